"""Collect the unanswered questions of a period from the database (see reports/unanswered.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.commands import is_command
from bot.nlu.decision import DECLINED, was_acted_on
from bot.reports.unanswered import Unanswered
from bot.storage.models import (
    ConversationState,
    Direction,
    FaqVote,
    HandoffEvent,
    Message,
    aware,
)

# Hand-offs that say the bot did not know; an agent claiming a chat says nothing about it.
ASKED_FOR_HELP = ("customer_asked", "low_confidence", "frustration")


def _is_question(message: Message) -> bool:
    text = message.text.strip()
    return bool(text) and not is_command(text, message.payload)


def _declined(message: Message) -> bool:
    """The bot was sure the question was not for it (the weather, a joke) and said so."""
    return (message.nlu or {}).get("decision") == DECLINED


def _not_understood(message: Message, threshold: float) -> bool:
    """What the engine did not act on (bot.nlu.decision): the NLU read it and was unsure."""
    nlu = message.nlu
    if nlu is None or nlu.get("error") or "intent" not in nlu:
        # Not read (a human had the chat, an open dialogue took the message) or the NLU
        # was down: no gap in the knowledge base.
        return False
    return not was_acted_on(
        intent=message.intent,
        confidence=message.confidence,
        nlu=nlu,
        answer_threshold=threshold,
    )


async def unanswered_questions(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    answer_threshold: float,
    default_language: str,
) -> list[Unanswered]:
    """Clarified, handed-off and "not helpful" questions of ``[start, end)``, one per message,
    and the ones declined as out of scope (source ``out_of_scope``: kept apart by the
    report, since chit-chat is no FAQ entry to write)."""
    found: dict[int, Unanswered] = {}

    def add(message: Message, source: str) -> None:
        if message.id not in found and _is_question(message):
            found[message.id] = Unanswered(
                message_id=message.id,
                conversation_id=message.conversation_id,
                text=message.text,
                language=message.language or default_language,
                source=source,
                at=aware(message.created_at),
            )

    inbound = (
        await session.scalars(
            select(Message)
            .where(
                Message.direction == Direction.IN,
                Message.created_at >= start,
                Message.created_at < end,
            )
            .order_by(Message.id)
        )
    ).all()
    by_conversation: dict[int, list[Message]] = {}
    for message in inbound:
        by_conversation.setdefault(message.conversation_id, []).append(message)
        if _declined(message):
            add(message, "out_of_scope")
        elif _not_understood(message, answer_threshold):
            add(message, "clarification")
    handoffs = (
        await session.scalars(
            select(HandoffEvent).where(
                HandoffEvent.to_state == ConversationState.QUEUED,
                HandoffEvent.reason.in_(ASKED_FOR_HELP),
                HandoffEvent.created_at >= start,
                HandoffEvent.created_at < end,
            )
        )
    ).all()
    for event in handoffs:
        before = [
            m
            for m in by_conversation.get(event.conversation_id, [])
            if aware(m.created_at) <= aware(event.created_at)
            and m.intent != "human_handoff"
            and _is_question(m)
        ]
        if before:
            add(before[-1], "handoff")
    votes = (
        await session.execute(
            select(FaqVote, Message)
            .join(Message, Message.id == FaqVote.question_message_id)
            .where(
                FaqVote.helpful.is_(False), FaqVote.created_at >= start, FaqVote.created_at < end
            )
        )
    ).all()
    for _, message in votes:
        found.pop(message.id, None)  # a "not helpful" vote says more than its other source
        add(message, "not_helpful")
    return sorted(found.values(), key=lambda u: u.message_id)
