"""Read a period's survey answers (and the CSAT ratings stored before surveys, in
``feedback``) into :mod:`bot.reports.surveys`. An answer belongs to the period it was
given in; "asked" counts the surveys put to customers in the period."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.reports.surveys import SCALES, Answer, SurveyNumbers, summarize_surveys
from bot.storage.models import (
    Agent,
    Conversation,
    Feedback,
    SurveyRequest,
    SurveyResponse,
    Ticket,
    aware,
)


async def survey_numbers_for_period(
    session: AsyncSession, *, start: datetime, end: datetime
) -> SurveyNumbers:
    answers = await _answers(session, start, end)
    answers += await _legacy_csat(session, start, end)
    asked_rows = await session.execute(
        select(SurveyRequest.kind, func.count())
        .where(SurveyRequest.asked_at >= start, SurveyRequest.asked_at < end)
        .group_by(SurveyRequest.kind)
    )
    asked = {str(kind): int(count) for kind, count in asked_rows if kind in SCALES}
    return summarize_surveys(answers, asked)


async def _answers(session: AsyncSession, start: datetime, end: datetime) -> list[Answer]:
    rows = await session.execute(
        select(
            SurveyRequest.kind,
            SurveyResponse.score,
            SurveyRequest.channel,
            SurveyRequest.language,
            SurveyRequest.intent,
            Agent.name,
            SurveyResponse.created_at,
            SurveyResponse.comment,
            SurveyRequest.conversation_id,
            Ticket.reference,
        )
        .join(SurveyRequest, SurveyRequest.id == SurveyResponse.request_id)
        .outerjoin(Agent, Agent.id == SurveyRequest.agent_id)
        .outerjoin(Ticket, Ticket.id == SurveyRequest.ticket_id)
        .where(
            SurveyResponse.created_at >= start,
            SurveyResponse.created_at < end,
            SurveyResponse.score.is_not(None),
            SurveyRequest.kind.in_(tuple(SCALES)),
        )
    )
    return [
        Answer(
            kind=kind,
            score=score,
            channel=channel,
            language=language,
            intent=intent,
            agent=agent,
            answered_at=aware(at),
            comment=comment,
            conversation_id=conversation_id,
            ticket_reference=reference,
        )
        for (
            kind,
            score,
            channel,
            language,
            intent,
            agent,
            at,
            comment,
            conversation_id,
            reference,
        ) in rows
        if score is not None
    ]


async def _legacy_csat(session: AsyncSession, start: datetime, end: datetime) -> list[Answer]:
    """Ratings from the ``/csat N`` buttons (the ``feedback`` table): CSAT like the rest."""
    rows = await session.execute(
        select(
            Feedback.score,
            Conversation.channel,
            Conversation.language,
            Feedback.created_at,
            Feedback.comment,
            Feedback.conversation_id,
        )
        .join(Conversation, Conversation.id == Feedback.conversation_id)
        .where(
            Feedback.kind == "csat",
            Feedback.score.is_not(None),
            Feedback.created_at >= start,
            Feedback.created_at < end,
        )
    )
    return [
        Answer(
            kind="csat",
            score=score,
            channel=channel,
            language=language,
            intent=None,
            agent=None,
            answered_at=aware(at),
            comment=comment,
            conversation_id=conversation_id,
            legacy=True,
        )
        for score, channel, language, at, comment, conversation_id in rows
        if score is not None
    ]
