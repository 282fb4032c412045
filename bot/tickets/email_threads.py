"""The email channel's view of the stored history: a thread's Message-IDs, a ticket's thread.

The channel never reads storage itself; ``bot/app.py`` hands it this directory. Our own
replies are stored with their Message-ID as the platform id and the customer's mails
with theirs, so a conversation's messages are the thread's References; its newest ticket
gives the reference for the subject ([HD-1042]) and a subject to reply under.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.channels.email.outbound import MAX_REFERENCES, ThreadContext
from bot.storage.database import Database
from bot.storage.models import Conversation, Direction, Message, Ticket

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
                subject=ticket.subject if ticket is not None else None,
            )

    async def conversation_of_ticket(self, reference: str) -> str | None:
        async with self._db.transaction() as session:
            key = await session.scalar(
                select(Conversation.conversation_key)
                .join(Ticket, Ticket.conversation_id == Conversation.id)
                .where(Ticket.reference == reference.upper(), Conversation.channel == CHANNEL)
            )
            return str(key) if key is not None else None
