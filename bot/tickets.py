"""Tickets: opened from a conversation, with a human-friendly reference (``HD-1001``)."""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Conversation, Message, Ticket
from bot.storage.repositories import MessageRepository, TicketRepository

REFERENCE = re.compile(r"\bHD[-\s]?(\d{3,9})\b", re.IGNORECASE)
TRANSCRIPT_LINES = 20


def find_reference(text: str) -> str | None:
    match = REFERENCE.search(text)
    return f"HD-{match.group(1)}" if match else None


async def open_ticket_from_conversation(
    session: AsyncSession, conversation: Conversation, *, trigger: Message, language: str
) -> Ticket:
    """A ticket whose description is the recent transcript, so the agent has the context."""
    history = await MessageRepository(session).transcript(conversation.id, limit=TRANSCRIPT_LINES)
    description = "\n".join(f"[{m.sender}] {m.text}" for m in history)
    return await TicketRepository(session).create(
        customer_id=conversation.customer_id,
        conversation_id=conversation.id,
        subject=trigger.text.strip()[:120] or "Support request",
        description=description,
        language=language,
        actor="customer",
    )
