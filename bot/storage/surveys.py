"""Queries for surveys and follow-ups (``survey_requests``, ``survey_responses``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Exists, and_, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from bot.storage.models import (
    Conversation,
    ConversationState,
    Customer,
    Direction,
    Message,
    SurveyRequest,
    SurveyResponse,
    Ticket,
    TicketStatus,
    aware,
)

FOLLOW_UP_KIND = "followup"


class SurveyStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def last_asked(self, customer_id: int, *, kind: str | None = None) -> datetime | None:
        """When the customer was last asked a survey (of ``kind``; follow-ups never count)."""
        stmt = select(func.max(SurveyRequest.asked_at)).where(
            SurveyRequest.customer_id == customer_id, SurveyRequest.kind != FOLLOW_UP_KIND
        )
        if kind is not None:
            stmt = stmt.where(SurveyRequest.kind == kind)
        found = await self.session.scalar(stmt)
        return aware(found) if found is not None else None

    async def add_request(self, request: SurveyRequest) -> bool:
        """Store it; ``False`` when its occasion was asked about already (the unique key),
        by this worker or another."""
        try:
            async with self.session.begin_nested():
                self.session.add(request)
        except IntegrityError:
            return False
        return True

    async def request(self, request_id: int) -> SurveyRequest | None:
        return await self.session.get(SurveyRequest, request_id)

    async def response(self, request_id: int) -> SurveyResponse | None:
        stmt = select(SurveyResponse).where(SurveyResponse.request_id == request_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def add_response(self, response: SurveyResponse) -> bool:
        """Store the answer; ``False`` when the request has one already (pressed twice,
        or a late press of an old message's button)."""
        try:
            async with self.session.begin_nested():
                self.session.add(response)
        except IntegrityError:
            return False
        return True

    async def opted_out(self, customer_id: int) -> bool:
        customer = await self.session.get(Customer, customer_id)
        return customer is None or customer.surveys_opted_out_at is not None

    async def answered_and_left(
        self, *, since: datetime, until: datetime, surveyed_since: datetime, limit: int = 500
    ) -> Sequence[tuple[Message, Conversation]]:
        """Customer messages with an FAQ intent in [since, until] that the bot replied to
        and after which the customer wrote nothing, in chats the bot still has; customers
        who opted out or had a survey since ``surveyed_since`` are left out here, so the
        ones already asked never crowd the others out of the limit."""
        later_in = aliased(Message)
        reply = aliased(Message)
        stmt = (
            select(Message, Conversation)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .join(Customer, Customer.id == Conversation.customer_id)
            .where(
                Customer.surveys_opted_out_at.is_(None),
                ~_surveyed(Conversation.customer_id, surveyed_since),
                Message.direction == Direction.IN,
                Message.intent.like("faq/%"),
                Message.created_at >= since,
                Message.created_at <= until,
                Conversation.state == ConversationState.BOT,
                ~exists().where(
                    and_(
                        later_in.conversation_id == Message.conversation_id,
                        later_in.direction == Direction.IN,
                        later_in.id > Message.id,
                    )
                ),
                exists().where(
                    and_(
                        reply.conversation_id == Message.conversation_id,
                        reply.direction == Direction.OUT,
                        reply.id > Message.id,
                    )
                ),
            )
            .order_by(Message.id)
            .limit(limit)
        )
        return [(m, c) for m, c in (await self.session.execute(stmt)).all()]

    async def resolved_for_follow_up(self, *, since: datetime, until: datetime) -> Sequence[Ticket]:
        """Tickets resolved in [since, until], still resolved, with a conversation to ask
        on, not asked about yet."""
        asked = exists().where(
            SurveyRequest.ticket_id == Ticket.id, SurveyRequest.kind == FOLLOW_UP_KIND
        )
        stmt = (
            select(Ticket)
            .where(
                ~asked,
                Ticket.status == TicketStatus.RESOLVED,
                Ticket.resolved_at >= since,
                Ticket.resolved_at <= until,
                Ticket.conversation_id.is_not(None),
            )
            .order_by(Ticket.id)
            .limit(500)
        )
        return (await self.session.scalars(stmt)).all()

    async def nps_candidates(
        self,
        *,
        active_since: datetime,
        known_before: datetime,
        surveyed_since: datetime,
        nps_since: datetime,
    ) -> Sequence[Conversation]:
        """Each customer's latest conversation with a message since ``active_since``, for
        customers who have known us since ``known_before``, not opted out, with no survey
        since ``surveyed_since`` and no NPS since ``nps_since``."""
        nps = exists().where(
            SurveyRequest.customer_id == Conversation.customer_id,
            SurveyRequest.kind == "nps",
            SurveyRequest.asked_at >= nps_since,
        )
        latest = (
            select(func.max(Conversation.id).label("id"))
            .join(Customer, Customer.id == Conversation.customer_id)
            .where(
                ~_surveyed(Conversation.customer_id, surveyed_since),
                ~nps,
                Customer.surveys_opted_out_at.is_(None),
                Customer.created_at <= known_before,
                Conversation.updated_at >= active_since,
                Conversation.state == ConversationState.BOT,
            )
            .group_by(Conversation.customer_id)
            .subquery()
        )
        stmt = select(Conversation).where(Conversation.id.in_(select(latest.c.id)))
        return (await self.session.scalars(stmt.order_by(Conversation.id).limit(500))).all()


def _surveyed(customer_id: InstrumentedAttribute[int], since: datetime) -> Exists:
    """The customer had a survey (not a follow-up) since ``since``."""
    return exists().where(
        SurveyRequest.customer_id == customer_id,
        SurveyRequest.kind != FOLLOW_UP_KIND,
        SurveyRequest.asked_at >= since,
    )
