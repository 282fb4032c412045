"""The email channel's view of the stored history: a thread's Message-IDs, a ticket's thread.

The channel never reads storage itself; ``bot/app.py`` hands it this directory. Our own
replies are stored with their Message-ID as the platform id and the customer's mails
with theirs, so a conversation's messages are the thread's References; its newest ticket
gives the reference for the subject ([HD-1042]) and a subject to reply under.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from bot.channels.email.outbound import MAX_REFERENCES, ThreadContext
from bot.channels.email.threads import address_of
from bot.storage.database import Database
from bot.storage.models import Conversation, Delivery, Direction, Message, Ticket
from bot.storage.notices import NoticeStore
from bot.storage.repositories import ConversationRepository
from bot.storage.tickets import TicketStore

CHANNEL = "email"


class EmailThreadDirectory:
    """Answers :class:`bot.channels.email.channel.ThreadDirectory` from the database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def thread(self, conversation_key: str) -> ThreadContext:
        async with self._db.transaction() as session:
            conversation = await session.scalar(
                select(Conversation).where(
                    Conversation.channel == CHANNEL,
                    Conversation.conversation_key == conversation_key,
                )
            )
            if conversation is None:
                return ThreadContext()
            rows = (
                await session.execute(
                    select(Message.platform_message_id, Message.direction)
                    .where(
                        Message.conversation_id == conversation.id,
                        Message.platform_message_id.is_not(None),
                    )
                    .order_by(Message.id.desc())
                    .limit(MAX_REFERENCES)
                )
            ).all()
            ticket = await session.scalar(
                select(Ticket)
                .where(Ticket.conversation_id == conversation.id)
                .order_by(Ticket.id.desc())
                .limit(1)
            )
            if ticket is None:  # a thread of notifications about a chat customer's ticket
                ticket = await NoticeStore(session).ticket_of_thread(conversation.id)
            first_subject = await session.scalar(
                select(Message.subject)
                .where(Message.conversation_id == conversation.id, Message.subject.is_not(None))
                .order_by(Message.id)
                .limit(1)
            )
            # A mail without a Message-ID is stored under a hash: no header can name it.
            ids = [str(pid) for pid, _ in reversed(rows) if str(pid).startswith("<")]
            inbound = [
                str(pid) for pid, way in rows if way == Direction.IN and str(pid).startswith("<")
            ]
            return ThreadContext(
                message_ids=tuple(ids),
                last_inbound=inbound[0] if inbound else None,
                ticket_reference=ticket.reference if ticket is not None else None,
                language=conversation.language,
                subject=first_subject or (ticket.subject if ticket is not None else None),
            )

    async def conversation_of_ticket(self, reference: str) -> str | None:
        async with self._db.transaction() as session:
            key = await session.scalar(
                select(Conversation.conversation_key)
                .join(Ticket, Ticket.conversation_id == Conversation.id)
                .where(Ticket.reference == reference.upper(), Conversation.channel == CHANNEL)
            )
            if key is None:
                ticket = await TicketStore(session).by_reference(reference.upper())
                thread = await NoticeStore(session).thread_of_ticket(ticket.id) if ticket else None
                key = thread.conversation_key if thread is not None else None
            return str(key) if key is not None else None

    async def bounced(self, message_ids: Sequence[str], *, reason: str) -> bool:
        """A bounce of one of our mails: its outbox row fails for good with the reason, the
        customer is marked unreachable by email, and its ticket (if any) says so."""
        async with self._db.transaction() as session:
            row = await session.scalar(
                select(Message)
                .where(
                    Message.channel == CHANNEL,
                    Message.direction == Direction.OUT,
                    Message.platform_message_id.in_(list(message_ids)),
                )
                .limit(1)
            )
            if row is None:
                return False
            why = f"bounced: {reason}"[:500]
            row.delivery = Delivery.FAILED
            row.last_error = why
            conversations = ConversationRepository(session)
            conversation = await conversations.get(row.conversation_id)
            if conversation is None:
                return True
            await conversations.set_unreachable(conversation, reason=why)
            ticket = await session.scalar(
                select(Ticket)
                .where(Ticket.conversation_id == conversation.id)
                .order_by(Ticket.id.desc())
                .limit(1)
            ) or await NoticeStore(session).ticket_of_thread(conversation.id)
            if ticket is not None:
                detail = f"A mail to {address_of(conversation.conversation_key)} {why}"
                TicketStore(session).add_event(ticket, kind="bounce", actor="email", detail=detail)
            return True
