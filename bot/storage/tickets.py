"""Ticket queries: lists with filters and search, events, SLA sweeps, follow-ups."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import (
    Customer,
    Ticket,
    TicketEvent,
    TicketSlaAlert,
    TicketStatus,
)

S = TypeVar("S", bound=Select[Any])
OPEN_STATUSES = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)


@dataclass(frozen=True, slots=True)
class TicketFilter:
    """What an agent or API client narrows a ticket list by; all optional."""

    status: TicketStatus | None = None
    priority: str | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    customer_id: int | None = None
    search: str | None = None


class TicketStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, ticket_id: int, *, for_update: bool = False) -> Ticket | None:
        if not for_update:
            return await self.session.get(Ticket, ticket_id)
        # populate_existing: a row locked now is read again, not taken from the session.
        stmt = (
            select(Ticket)
            .where(Ticket.id == ticket_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def by_reference(self, reference: str) -> Ticket | None:
        stmt = select(Ticket).where(Ticket.reference == reference.strip().upper())
        return (await self.session.scalars(stmt)).one_or_none()

    async def page(
        self, where: TicketFilter, *, limit: int, offset: int
    ) -> tuple[Sequence[Ticket], int]:
        """One page of tickets, newest first, and how many match in all."""
        stmt = _filtered(select(Ticket), where)
        total = await self.session.scalar(_filtered(select(func.count(Ticket.id)), where))
        rows = await self.session.scalars(
            stmt.order_by(Ticket.id.desc()).limit(limit).offset(offset)
        )
        return rows.all(), int(total or 0)

    async def events(self, ticket_id: int) -> Sequence[TicketEvent]:
        stmt = (
            select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
        )
        return (await self.session.scalars(stmt)).all()

    def add_event(self, ticket: Ticket, *, kind: str, actor: str, detail: str = "") -> None:
        self.session.add(TicketEvent(ticket_id=ticket.id, kind=kind, actor=actor, detail=detail))

    async def customer_name(self, customer_id: int) -> str | None:
        customer = await self.session.get(Customer, customer_id)
        return customer.display_name if customer else None

    async def without_sla(self, *, limit: int = 200) -> Sequence[Ticket]:
        """Open tickets opened elsewhere (the handoff) that have no SLA times yet."""
        stmt = (
            select(Ticket)
            .where(Ticket.first_response_due.is_(None), Ticket.status.in_(OPEN_STATUSES))
            .limit(limit)
        )
        return (await self.session.scalars(stmt)).all()

    async def sla_candidates(self, now: datetime) -> Sequence[Ticket]:
        """Open tickets past a warning point: the sweep decides which alerts are new."""
        stmt = select(Ticket).where(
            Ticket.status.in_(OPEN_STATUSES),
            or_(
                Ticket.first_responded_at.is_(None) & (Ticket.first_response_warn_at <= now),
                Ticket.resolution_warn_at <= now,
            ),
        )
        return (await self.session.scalars(stmt)).all()

    async def record_alert(self, ticket_id: int, kind: str) -> bool:
        """True the first time this alert is recorded for the ticket, False ever after."""
        try:
            async with self.session.begin_nested():
                self.session.add(TicketSlaAlert(ticket_id=ticket_id, kind=kind))
        except IntegrityError:
            return False
        return True

    async def resolved_before(self, cutoff: datetime) -> Sequence[int]:
        stmt = select(Ticket.id).where(
            Ticket.status == TicketStatus.RESOLVED, Ticket.resolved_at <= cutoff
        )
        return (await self.session.scalars(stmt)).all()

    async def awaiting_customer(self, conversation_id: int) -> Ticket | None:
        """The conversation's latest ticket that is waiting on the customer or resolved."""
        stmt = (
            select(Ticket)
            .where(
                Ticket.conversation_id == conversation_id,
                Ticket.status.in_((TicketStatus.PENDING, TicketStatus.RESOLVED)),
            )
            .order_by(Ticket.id.desc())
            .limit(1)
        )
        return (await self.session.scalars(stmt)).one_or_none()


def _filtered(stmt: S, where: TicketFilter) -> S:
    if where.status is not None:
        stmt = stmt.where(Ticket.status == where.status)
    if where.priority is not None:
        stmt = stmt.where(Ticket.priority == where.priority)
    if where.unassigned:
        stmt = stmt.where(Ticket.assignee_id.is_(None))
    elif where.assignee_id is not None:
        stmt = stmt.where(Ticket.assignee_id == where.assignee_id)
    if where.customer_id is not None:
        stmt = stmt.where(Ticket.customer_id == where.customer_id)
    if where.search:
        # LIKE metacharacters in the search are literal; ESCAPE works on both databases.
        needle = where.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{needle.lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(Ticket.subject).like(pattern, escape="\\"),
                func.lower(Ticket.description).like(pattern, escape="\\"),
                func.lower(Ticket.reference).like(pattern, escape="\\"),
            )
        )
    return stmt
