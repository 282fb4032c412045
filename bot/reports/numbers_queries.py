"""Read the history of a period from the database into :mod:`bot.reports.numbers`' events.

One query per table, each filtered by a sub-select of the period's conversations (no
giant ``IN`` lists), then the pure computation. Good for the tens of thousands of
conversations a month a support team sees; a data warehouse is the next step past that.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.nlu.client import FAQ_PREFIX
from bot.nlu.decision import was_acted_on
from bot.reports.numbers import Event, Numbers, Share, Sla, conversation_facts, summarize
from bot.storage.models import (
    Conversation,
    ConversationState,
    Direction,
    FaqVote,
    Feedback,
    HandoffEvent,
    Message,
    SurveyRequest,
    SurveyResponse,
    Ticket,
    aware,
)
from bot.tickets.rules import paused_in_time

HUMAN = (ConversationState.QUEUED, ConversationState.AGENT)


async def numbers_for_period(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    answer_threshold: float,
    now: datetime | None = None,
) -> Numbers:
    """The dashboard's numbers for conversations started in ``[start, end)``."""
    now = now or datetime.now(UTC)
    in_period = select(Conversation.id).where(
        Conversation.created_at >= start, Conversation.created_at < end
    )
    conversations = (
        await session.execute(
            select(Conversation.id, Conversation.channel, Conversation.language).where(
                Conversation.id.in_(in_period)
            )
        )
    ).all()
    events: dict[int, list[Event]] = defaultdict(list)
    await _messages(session, in_period, events, answer_threshold)
    await _handoffs(session, in_period, events)
    for conversation_id, at in await session.execute(
        select(Ticket.conversation_id, Ticket.created_at).where(
            Ticket.conversation_id.in_(in_period)
        )
    ):
        if conversation_id is not None:
            events[conversation_id].append(Event(aware(at), "ticket"))
    votes: list[tuple[str, bool]] = []
    for conversation_id, faq_id, helpful, at in await session.execute(
        select(FaqVote.conversation_id, FaqVote.faq_id, FaqVote.helpful, FaqVote.created_at).where(
            FaqVote.conversation_id.in_(in_period)
        )
    ):
        votes.append((faq_id, helpful))
        events[conversation_id].append(Event(aware(at), "vote", "yes" if helpful else "no"))
    scores: list[int] = []
    for conversation_id, score, at in await session.execute(
        select(Feedback.conversation_id, Feedback.score, Feedback.created_at).where(
            Feedback.conversation_id.in_(in_period),
            Feedback.kind == "csat",
            Feedback.score.is_not(None),
        )
    ):
        if score is None:
            continue
        scores.append(int(score))
        events[conversation_id].append(Event(aware(at), "csat", str(score)))
    # CSAT asked as a survey (bot/surveys/): the same ratings, in their own tables.
    for conversation_id, score, at in await session.execute(
        select(SurveyRequest.conversation_id, SurveyResponse.score, SurveyResponse.created_at)
        .join(SurveyResponse, SurveyResponse.request_id == SurveyRequest.id)
        .where(
            SurveyRequest.conversation_id.in_(in_period),
            SurveyRequest.kind == "csat",
            SurveyResponse.score.is_not(None),
        )
    ):
        if score is None or conversation_id is None:
            continue
        scores.append(int(score))
        events[conversation_id].append(Event(aware(at), "csat", str(score)))
    facts = [
        fact
        for conversation_id, channel, language in conversations
        if (fact := conversation_facts(channel, language, events[conversation_id])) is not None
    ]
    sla = await _sla(session, start=start, end=end, now=now)
    return summarize(facts, start=start, end=end, votes=votes, csat_scores=scores, sla=sla)


async def _messages(
    session: AsyncSession,
    in_period: Select[Any],
    events: dict[int, list[Event]],
    threshold: float,
) -> None:
    rows = await session.execute(
        select(
            Message.conversation_id,
            Message.direction,
            Message.sender,
            Message.intent,
            Message.confidence,
            Message.nlu,
            Message.created_at,
        ).where(Message.conversation_id.in_(in_period))
    )
    for conversation_id, direction, sender, intent, confidence, nlu, at in rows:
        if direction == Direction.IN:
            # Answered from the knowledge base: what bot.nlu.decision would have acted on.
            answered = (
                intent is not None
                and intent.startswith(FAQ_PREFIX)
                and was_acted_on(
                    intent=intent, confidence=confidence, nlu=nlu, answer_threshold=threshold
                )
            )
            faq_id = intent[len(FAQ_PREFIX) :] if answered and intent else None
            events[conversation_id].append(Event(aware(at), "in", faq_id))
        else:
            kind = "agent_out" if sender == "agent" else "out"
            events[conversation_id].append(Event(aware(at), kind))


async def _handoffs(
    session: AsyncSession, in_period: Select[Any], events: dict[int, list[Event]]
) -> None:
    rows = await session.execute(
        select(
            HandoffEvent.conversation_id,
            HandoffEvent.to_state,
            HandoffEvent.reason,
            HandoffEvent.created_at,
        ).where(HandoffEvent.conversation_id.in_(in_period))
    )
    for conversation_id, to_state, reason, at in rows:
        if reason == "customer_returned":
            events[conversation_id].append(Event(aware(at), "returned"))
        elif to_state in HUMAN:
            events[conversation_id].append(Event(aware(at), "handoff", reason))
        elif to_state == ConversationState.RESOLVED:
            events[conversation_id].append(Event(aware(at), "resolved"))


async def _sla(session: AsyncSession, *, start: datetime, end: datetime, now: datetime) -> Sla:
    """Tickets opened in the period whose target is decided: met, breached, or overdue now."""
    rows = (
        await session.execute(
            select(
                Ticket.first_response_due,
                Ticket.first_responded_at,
                Ticket.resolution_due,
                Ticket.resolved_at,
                Ticket.sla_paused_at,
            ).where(Ticket.created_at >= start, Ticket.created_at < end)
        )
    ).all()
    first = [_met(due, done, now) for due, done, _, _, _ in rows]
    resolution = [_met(due, done, now, paused_at) for _, _, due, done, paused_at in rows]
    return Sla(_share(first), _share(resolution))


def _met(
    due: datetime | None,
    done: datetime | None,
    now: datetime,
    paused_at: datetime | None = None,
) -> bool | None:
    """True: met; False: breached; None: no target, or still open and not yet due.

    A clock paused before its due time (the ticket waits on the customer) is not late:
    the due time moves when the ticket comes back.
    """
    if due is None:
        return None
    if done is not None:
        return aware(done) <= aware(due)
    if paused_in_time(paused_at, due):
        return None
    return False if aware(due) < now else None


def _share(outcomes: list[bool | None]) -> Share:
    decided = [o for o in outcomes if o is not None]
    return Share(sum(decided), len(decided))
