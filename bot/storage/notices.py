"""Queries for ticket notifications that may go out by email (``email_notices``).

A notification stored for a chat channel is recorded here in the same transaction; the
notice job later decides it once: delivered on the chat, or mailed (the mail's outbox row
and its email thread kept, so a reply to it lands on the ticket).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import (
    Conversation,
    Delivery,
    Direction,
    EmailNotice,
    Message,
    Ticket,
)


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
