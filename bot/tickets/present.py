"""Tickets as the REST API, the console and the CSV export show them."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.database import Database
from bot.storage.models import Agent, Conversation, Customer, Ticket, TicketEvent, aware
from bot.storage.tickets import TicketFilter, TicketStore

EXPORT_BATCH = 500
EXPORT_MAX = 50_000

CSV_COLUMNS = (
    "reference",
    "status",
    "priority",
    "subject",
    "customer",
    "channel",
    "assignee",
    "language",
    "created_at",
    "updated_at",
    "first_response_due",
    "first_responded_at",
    "resolution_due",
    "resolved_at",
    "closed_at",
)
# A cell starting with these is a formula in Excel/LibreOffice: exported text must not run.
# Spreadsheets skip leading whitespace (a space, a newline) before deciding, so those
# are looked past; a cell starting with a tab, CR or newline is quoted too.
FORMULA_START = ("=", "+", "-", "@")
CONTROL_START = ("\t", "\r", "\n")


class Names:
    """Customer and agent names and channels for a batch of tickets, in three queries."""

    def __init__(
        self,
        customers: dict[int, str | None],
        agents: dict[int, str],
        channels: dict[int, str],
    ) -> None:
        self.customers = customers
        self.agents = agents
        self.channels = channels

    @classmethod
    async def load(cls, session: AsyncSession, tickets: Sequence[Ticket]) -> Names:
        customer_ids = {t.customer_id for t in tickets}
        agent_ids = {t.assignee_id for t in tickets if t.assignee_id is not None}
        conversation_ids = {t.conversation_id for t in tickets if t.conversation_id is not None}
        customers = {
            c.id: c.display_name
            for c in await session.scalars(select(Customer).where(Customer.id.in_(customer_ids)))
        }
        agents = {
            a.id: a.name
            for a in await session.scalars(select(Agent).where(Agent.id.in_(agent_ids)))
        }
        channels = {
            c.id: c.channel
            for c in await session.scalars(
                select(Conversation).where(Conversation.id.in_(conversation_ids))
            )
        }
        return cls(customers, agents, channels)


def _time(value: datetime | None) -> str | None:
    return aware(value).isoformat() if value is not None else None


def ticket_json(ticket: Ticket, names: Names) -> dict[str, Any]:
    assignee = (
        {"id": ticket.assignee_id, "name": names.agents.get(ticket.assignee_id)}
        if ticket.assignee_id is not None
        else None
    )
    return {
        "id": ticket.id,
        "reference": ticket.reference or "",
        "subject": ticket.subject,
        "description": ticket.description,
        "status": ticket.status.value,
        "priority": ticket.priority,
        "language": ticket.language,
        "contact": ticket.contact,
        "channel": names.channels.get(ticket.conversation_id or 0),
        "customer": {"id": ticket.customer_id, "name": names.customers.get(ticket.customer_id)},
        "assignee": assignee,
        "sla": {
            "first_response_due": _time(ticket.first_response_due),
            "resolution_due": _time(ticket.resolution_due),
            "resolution_paused_since": _time(ticket.sla_paused_at),
            "first_responded_at": _time(ticket.first_responded_at),
            "resolved_at": _time(ticket.resolved_at),
            "closed_at": _time(ticket.closed_at),
        },
        "created_at": _time(ticket.created_at),
        "updated_at": _time(ticket.updated_at),
    }


def event_json(event: TicketEvent) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "actor": event.actor,
        "detail": event.detail,
        "created_at": _time(event.created_at),
    }


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    if text.startswith(CONTROL_START) or text.lstrip().startswith(FORMULA_START):
        return "'" + text
    return text


def tickets_csv(rows: Iterable[dict[str, Any]]) -> str:
    """CSV (RFC 4180, header row) of ticket JSON objects; formula-looking cells defused."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        flat = {
            **row,
            **row["sla"],
            "customer": row["customer"]["name"],
            "assignee": (row["assignee"] or {}).get("name"),
        }
        writer.writerow([_cell(flat.get(column)) for column in CSV_COLUMNS])
    return out.getvalue()


async def export_rows(db: Database, where: TicketFilter) -> list[dict[str, Any]]:
    """Every ticket matching the filter (up to :data:`EXPORT_MAX`), newest first."""
    rows: list[dict[str, Any]] = []
    async with db.transaction() as session:
        store = TicketStore(session)
        while len(rows) < EXPORT_MAX:
            batch, _ = await store.page(where, limit=EXPORT_BATCH, offset=len(rows))
            names = await Names.load(session, batch)
            rows += [ticket_json(t, names) for t in batch]
            if len(batch) < EXPORT_BATCH:
                break
    return rows
