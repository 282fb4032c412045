"""Ticket notifications by email for customers who are not on their chat.

The ticket service records every notification it stores for a chat channel (an agent's
answer, "needs your input", "resolved" with its survey), and the desk every reply an
agent writes in a live chat (``chat_reply``). This job decides each one once:

- **delivered** on the chat: nothing more to do;
- **web chat**, still undelivered after ``webchat_after_s`` (nobody has the chat open,
  on any worker), or **any chat** that refused it for good (Telegram: the bot blocked;
  Slack: the channel gone; or given up after the outbox's attempts): it goes **by email**
  to the address the customer gave (the ticket's contact) or the shop verified;
- Telegram or Slack still retrying (a platform outage): it waits, since the chat will take it.

The notices of one ticket due at once make one mail, through the outbox like every send,
in an email thread of that ticket (``<address>#<token>``): the mail carries the ticket
reference in its subject and our Message-ID, so a reply by email lands on the ticket
(``TicketService.follow_up``). A live chat's replies (no ticket) go the same way in an
email thread of that chat, each under the agent's name; a reply to such a mail goes to a
person, that agent when they can take it (``bot.engine.decide``, ``bot.desk.reception``).
The chat copy stays in its outbox: a web chat customer who comes back sees it there too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.email.threads import conversation_key, thread_token
from bot.desk.policy import Clock, CustomerLine, SystemClock
from bot.i18n import Catalogue
from bot.messages import Button, OutboundMessage
from bot.settings import EmailNoticeSettings
from bot.storage.database import Database
from bot.storage.models import (
    Agent,
    ChannelIdentity,
    Conversation,
    ConversationState,
    Customer,
    Delivery,
    Message,
    Ticket,
    aware,
)
from bot.storage.notices import NoticeStore, OpenNotice

log = logging.getLogger(__name__)

__all__ = ["EmailNotices", "notice_address"]

EMAIL = "email"
WEBCHAT = "webchat"
GIVE_UP_AFTER = timedelta(days=7)
"""A Telegram or Slack notification neither delivered nor refused by then is left alone."""
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


def notice_address(customer: Customer, ticket: Ticket | None, *, only_verified: bool) -> str | None:
    """Where a customer's notices go: the address the shop verified or the page gave,
    else the one typed in the ticket dialogue (unless only verified ones are wanted)."""
    if customer.email and (customer.verified or not only_verified):
        candidate: str | None = customer.email
    elif not only_verified and ticket is not None:
        candidate = ticket.contact
    else:
        candidate = None
    candidate = (candidate or "").strip().lower()
    return candidate if _ADDRESS.match(candidate) and len(candidate) <= 180 else None


class EmailNotices:
    def __init__(
        self,
        *,
        db: Database,
        line: CustomerLine,
        catalogue: Catalogue,
        settings: EmailNoticeSettings,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.line = line
        self.catalogue = catalogue
        self.settings = settings
        self.clock: Clock = clock or SystemClock()

    async def run(self) -> int:
        """Decide the notices that can be decided now; returns how many mails were stored."""
        now = self.clock.now()
        wait = timedelta(seconds=self.settings.webchat_after_s)
        rows: list[int] = []
        async with self.db.transaction() as session:
            store = NoticeStore(session)
            due: dict[tuple[str, int], list[OpenNotice]] = {}
            for item in await store.undecided():
                notice = item.notice
                age = now - aware(notice.created_at)
                if item.delivery == Delivery.SENT:
                    store.decide(notice, "delivered", now=now)
                elif notice.event not in self.settings.events:
                    store.decide(notice, "not_wanted", now=now)
                elif item.delivery == Delivery.FAILED or (item.channel == WEBCHAT and age >= wait):
                    # One mail per ticket; a live chat's replies (no ticket): one per chat.
                    about = ("ticket", notice.ticket_id) if notice.ticket_id else None
                    due.setdefault(about or ("chat", item.conversation_id), []).append(item)
                elif age >= GIVE_UP_AFTER:
                    store.decide(notice, "expired", now=now)
            for (kind, key), items in due.items():
                if kind == "ticket":
                    row = await self._mail(session, key, items)
                else:
                    row = await self._mail_chat(session, key, items)
                rows += [row] if row is not None else []
        if rows:
            await self.line.deliver(rows)
        return len(rows)

    async def _mail(
        self, session: AsyncSession, ticket_id: int, items: Sequence[OpenNotice]
    ) -> int | None:
        store = NoticeStore(session)
        now = self.clock.now()
        ticket = await session.get(Ticket, ticket_id)
        customer = await session.get(Customer, ticket.customer_id) if ticket else None
        if ticket is None or customer is None:
            return None
        address = notice_address(customer, ticket, only_verified=self.settings.only_verified)
        if address is None:
            for item in items:
                store.decide(item.notice, "no_address", now=now)
            return None
        chat = await session.get(Conversation, ticket.conversation_id or 0)
        language = self._language(chat, ticket, customer)
        token = f"<ticket.{ticket.id}@notices>"
        thread = await self._thread(session, token, customer.id, address, language)
        text = "\n\n".join(
            [self.catalogue.get("email_notice_intro", language), *(i.text for i in items)]
        )
        # The survey's buttons (the last notice's, if it asks one) become links in the mail.
        buttons = next((i.buttons for i in reversed(items) if i.buttons), ())
        reply = OutboundMessage(text, buttons=tuple(Button(t, p) for t, p in buttons))
        row = await self._send(session, thread, reply, items, language, now)
        log.info("ticket %s: %d notification(s) mailed", ticket.reference, len(items))
        return row

    async def _mail_chat(
        self, session: AsyncSession, chat_id: int, items: Sequence[OpenNotice]
    ) -> int | None:
        """An agent's replies in a live chat the customer is no longer on, in one mail."""
        store = NoticeStore(session)
        now = self.clock.now()
        chat = await session.get(Conversation, chat_id)
        customer = await session.get(Customer, chat.customer_id) if chat else None
        address = (
            notice_address(customer, None, only_verified=self.settings.only_verified)
            if customer is not None
            else None
        )
        if chat is None or customer is None or address is None:
            for item in items:
                store.decide(item.notice, "no_address", now=now)
            return None
        language = self._language(chat, None, customer)
        thread = await self._thread(
            session, f"<chat.{chat.id}@notices>", customer.id, address, language
        )
        rows = await session.execute(
            select(Message.id, Agent.name)
            .join(Agent, Agent.id == Message.agent_id)
            .where(Message.id.in_([i.notice.message_id for i in items]))
        )
        names = {message_id: name for message_id, name in rows}
        replies = [
            f"{names[i.notice.message_id]}: {i.text}" if i.notice.message_id in names else i.text
            for i in items
        ]
        text = "\n\n".join([self.catalogue.get("email_notice_intro", language), *replies])
        row = await self._send(session, thread, OutboundMessage(text), items, language, now)
        log.info("chat %d: %d agent reply(ies) mailed", chat.id, len(items))
        return row

    async def _send(
        self,
        session: AsyncSession,
        thread: Conversation,
        mail: OutboundMessage,
        items: Sequence[OpenNotice],
        language: str,
        now: datetime,
    ) -> int:
        """Store the mail in the thread's outbox and mark its notices emailed by it."""
        [row] = await self.line.store_outbound(session, thread, [mail], language=language)
        store = NoticeStore(session)
        for item in items:
            store.decide(
                item.notice,
                "emailed",
                now=now,
                email_message_id=row,
                email_conversation_id=thread.id,
            )
        return row

    async def _thread(
        self, session: AsyncSession, token: str, customer_id: int, address: str, language: str
    ) -> Conversation:
        """The email thread for ``address`` of a ticket (or a live chat) named by
        ``token``: one each, so a mail client shows its notices together and a reply
        names the thread in its headers."""
        key = conversation_key(address, thread_token(token))
        found = await session.scalar(
            select(Conversation).where(
                Conversation.channel == EMAIL, Conversation.conversation_key == key
            )
        )
        if found is not None:
            return found
        known = await session.scalar(
            select(ChannelIdentity.id).where(
                ChannelIdentity.channel == EMAIL, ChannelIdentity.external_id == address
            )
        )
        if known is None:
            # The address becomes this customer's on email (a bounce marks it unreachable).
            try:
                async with session.begin_nested():
                    session.add(
                        ChannelIdentity(customer_id=customer_id, channel=EMAIL, external_id=address)
                    )
            except IntegrityError:
                pass  # written meanwhile by the customer's own first mail: theirs stays
        thread = Conversation(
            customer_id=customer_id,
            channel=EMAIL,
            conversation_key=key,
            state=ConversationState.BOT,
            low_confidence_streak=0,
            language=language,
        )
        session.add(thread)
        await session.flush()
        return thread

    def _language(
        self, chat: Conversation | None, ticket: Ticket | None, customer: Customer
    ) -> str:
        chat_language = chat.language if chat else None
        ticket_language = ticket.language if ticket else None
        for language in (chat_language, ticket_language, customer.language):
            if language and self.catalogue.has(language):
                return language
        return self.catalogue.default_language
