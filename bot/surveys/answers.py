"""What a survey answer or a follow-up answer does, inside the customer's turn.

An answer counts once: ``survey_responses`` is unique per request, so a button pressed
twice, or pressed late from an old message, stores nothing the second time. A follow-up's
"yes" closes the ticket (still resolved: nobody reopened it since); "no" reopens it, and
the customer's next words land on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import (
    Customer,
    SurveyRequest,
    SurveyResponse,
    Ticket,
    TicketStatus,
)
from bot.storage.surveys import FOLLOW_UP_KIND, SurveyStore
from bot.storage.tickets import TicketStore
from bot.surveys.plan import SCALES

COMMENT_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class Recorded:
    """What became of an answer: ``counted`` (new), and the request it answered."""

    request: SurveyRequest | None
    counted: bool
    value: str

    @property
    def is_follow_up(self) -> bool:
        return self.request is not None and self.request.kind == FOLLOW_UP_KIND


async def record_answer(
    session: AsyncSession,
    *,
    customer_id: int,
    request_id: int,
    value: str,
    message_id: int | None,
    now: datetime,
) -> Recorded:
    """Store the answer once; an unknown request, another customer's, or a value outside
    the survey's scale is not counted (an old or forged button changes nothing)."""
    store = SurveyStore(session)
    request = await store.request(request_id)
    if request is None or request.customer_id != customer_id:
        return Recorded(None, counted=False, value=value)
    if request.kind == FOLLOW_UP_KIND:
        valid = value in ("yes", "no")
        response = SurveyResponse(request_id=request.id, answer=value, message_id=message_id)
    else:
        scale = SCALES.get(request.kind)
        valid = scale is not None and value.isdigit() and int(value) in scale.scores
        response = SurveyResponse(
            request_id=request.id, score=int(value) if valid else None, message_id=message_id
        )
    if not valid:
        return Recorded(request, counted=False, value=value)
    response.created_at = now
    counted = await store.add_response(response)
    return Recorded(request, counted=counted, value=value)


async def add_comment(session: AsyncSession, *, request_id: int, text: str) -> bool:
    """The customer's words after a low score, on the response (the first comment only)."""
    response = await SurveyStore(session).response(request_id)
    if response is None or response.comment is not None:
        return False
    response.comment = text.strip()[:COMMENT_LIMIT]
    await session.flush()
    return True


async def close_after_follow_up(
    session: AsyncSession, ticket_id: int, now: datetime
) -> Ticket | None:
    """The customer says it stayed solved: a still-resolved ticket closes."""
    store = TicketStore(session)
    ticket = await store.get(ticket_id, for_update=True)
    if ticket is None or ticket.status != TicketStatus.RESOLVED:
        return None
    store.add_event(ticket, kind="status", actor="customer", detail="resolved -> closed")
    store.add_event(ticket, kind="follow_up", actor="customer", detail="stayed solved")
    ticket.status = TicketStatus.CLOSED
    ticket.closed_at = ticket.updated_at = now
    return ticket


async def reopen_after_follow_up(
    session: AsyncSession, ticket_id: int, now: datetime
) -> Ticket | None:
    """The customer says it came back: a resolved or closed ticket opens again."""
    store = TicketStore(session)
    ticket = await store.get(ticket_id, for_update=True)
    if ticket is None or ticket.status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        return ticket
    store.add_event(
        ticket, kind="status", actor="customer", detail=f"{ticket.status.value} -> open"
    )
    store.add_event(ticket, kind="follow_up", actor="customer", detail="not solved")
    ticket.status = TicketStatus.OPEN
    ticket.resolved_at = ticket.closed_at = None
    ticket.updated_at = now
    return ticket


async def add_customer_words(
    session: AsyncSession, ticket_id: int, text: str, now: datetime
) -> Ticket | None:
    """What is still wrong, in the customer's words, on the reopened ticket."""
    store = TicketStore(session)
    ticket = await store.get(ticket_id, for_update=True)
    if ticket is None:
        return None
    store.add_event(ticket, kind="customer_reply", actor="customer", detail=text[:4000])
    ticket.updated_at = now
    return ticket


async def opt_out(session: AsyncSession, customer_id: int, now: datetime) -> None:
    customer = await session.get(Customer, customer_id)
    if customer is not None and customer.surveys_opted_out_at is None:
        customer.surveys_opted_out_at = now
