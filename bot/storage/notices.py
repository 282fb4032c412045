"""Queries for ticket notifications that may go out by email (``email_notices``).

A notification stored for a chat channel is recorded here in the same transaction; the
notice job later decides it once: delivered on the chat, or mailed (the mail's outbox row
and its email thread kept, so a reply to it lands on the ticket, or, for an agent's live
chat reply, goes to that agent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.storage.models import (
    Conversation,
    Delivery,
    Direction,
    EmailNotice,
    Message,
    Ticket,
)

CHAT_REPLY = "chat_reply"
"""The notice event of an agent's reply in a live chat (no ticket)."""


@dataclass(frozen=True, slots=True)
class OpenNotice:
    """An undecided notice with what the job needs of its chat message."""

    notice: EmailNotice
    channel: str
    conversation_id: int
    """The chat the notice was stored in."""
    delivery: Delivery
    text: str
    buttons: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class MailedChatReply:
    """An agent's live chat reply that went to the customer by email."""

    chat_id: int
    """The live chat the agent wrote it in."""
    channel: str
    """That chat's channel."""
    agent_id: int | None
    """Who wrote it; ``None`` once their account is gone."""


class NoticeStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(
        self, *, ticket_id: int | None, message_ids: Sequence[int], event: str, now: datetime
    ) -> None:
        """Notifications just stored in the outbox (the caller's transaction); no ticket:
        an agent's reply in a live chat."""
        for message_id in message_ids:
            self.session.add(
                EmailNotice(message_id=message_id, ticket_id=ticket_id, event=event, created_at=now)
            )
        await self.session.flush()

    async def undecided(self, *, limit: int = 200) -> list[OpenNotice]:
        """Notices not decided yet, oldest first, with their chat message's state."""
        rows = (
            await self.session.execute(
                select(
                    EmailNotice,
                    Message.channel,
                    Message.conversation_id,
                    Message.delivery,
                    Message.text,
                    Message.buttons,
                )
                .join(Message, Message.id == EmailNotice.message_id)
                .where(EmailNotice.decided_at.is_(None))
                .order_by(EmailNotice.id)
                .limit(limit)
            )
        ).all()
        return [
            OpenNotice(
                notice=notice,
                channel=str(channel),
                conversation_id=int(conversation_id),
                delivery=Delivery(delivery),
                text=str(text),
                buttons=tuple((b["title"], b["payload"]) for b in buttons or []),
            )
            for notice, channel, conversation_id, delivery, text, buttons in rows
        ]

    def decide(
        self,
        notice: EmailNotice,
        outcome: str,
        *,
        now: datetime,
        email_message_id: int | None = None,
        email_conversation_id: int | None = None,
    ) -> None:
        notice.outcome = outcome
        notice.decided_at = now
        notice.email_message_id = email_message_id
        notice.email_conversation_id = email_conversation_id

    async def ticket_of_thread(self, conversation_id: int) -> Ticket | None:
        """The ticket an email thread of notices is about (its newest notice's)."""
        return await self.session.scalar(
            select(Ticket)
            .join(EmailNotice, EmailNotice.ticket_id == Ticket.id)
            .where(EmailNotice.email_conversation_id == conversation_id)
            .order_by(EmailNotice.id.desc())
            .limit(1)
        )

    async def chat_reply_answered(self, conversation_id: int) -> MailedChatReply | None:
        """The agent's reply a customer's mail in this email thread answers: the newest
        live chat reply in our newest mail of the thread, when that mail carried some
        (``None``: the thread is no live chat's, or something of ours came after)."""
        newest_out = (
            select(func.max(Message.id))
            .where(Message.conversation_id == conversation_id, Message.direction == Direction.OUT)
            .scalar_subquery()
        )
        chat_message = aliased(Message)
        row = (
            await self.session.execute(
                select(chat_message.conversation_id, chat_message.channel, chat_message.agent_id)
                .select_from(EmailNotice)
                .join(chat_message, chat_message.id == EmailNotice.message_id)
                .where(
                    EmailNotice.email_conversation_id == conversation_id,
                    EmailNotice.email_message_id == newest_out,
                    EmailNotice.event == CHAT_REPLY,
                    EmailNotice.outcome == "emailed",
                )
                .order_by(EmailNotice.id.desc())
                .limit(1)
            )
        ).first()
        if row is None:
            return None
        chat_id, channel, agent_id = row
        return MailedChatReply(chat_id=int(chat_id), channel=str(channel), agent_id=agent_id)

    async def thread_of_ticket(self, ticket_id: int) -> Conversation | None:
        """The email thread a ticket's notices went out in, if any did."""
        return await self.session.scalar(
            select(Conversation)
            .join(EmailNotice, EmailNotice.email_conversation_id == Conversation.id)
            .where(EmailNotice.ticket_id == ticket_id)
            .order_by(EmailNotice.id.desc())
            .limit(1)
        )

    async def waiting_for_customer(
        self, customer_id: int, *, channel: str, except_conversation: int
    ) -> Sequence[Message]:
        """Replies on ``channel`` to the customer's other conversations that never reached
        them (the web chat of another device), oldest first."""
        return (
            await self.session.scalars(
                select(Message)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(
                    Conversation.customer_id == customer_id,
                    Conversation.channel == channel,
                    Conversation.id != except_conversation,
                    Message.direction == Direction.OUT,
                    Message.delivery == Delivery.PENDING,
                )
                .order_by(Message.id)
                .limit(50)
            )
        ).all()
