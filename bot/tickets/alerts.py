"""SLA alerts: which warnings and breaches a ticket is due, and who hears about them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, Protocol

from bot.storage.models import Ticket, aware


@dataclass(frozen=True, slots=True)
class SlaAlert:
    ticket_id: int
    reference: str
    kind: str  # first_response_warning | first_response_breach | resolution_*
    due: datetime
    priority: str
    subject: str


class SlaNotifier(Protocol):
    """Told once per ticket and alert kind (the Slack desk posts to its agents channel)."""

    async def sla_alert(self, alert: SlaAlert) -> None: ...


def alerts_due(ticket: Ticket, now: datetime) -> list[tuple[str, datetime]]:
    """The alerts (kind, due time) a ticket has reached by ``now``; a breach replaces
    its warning, and a stopped clock (answered, resolved, waiting on the customer) raises
    none."""
    due: list[tuple[str, datetime]] = []
    checks: Sequence[tuple[str, datetime | None, datetime | None, bool]] = (
        (
            "first_response",
            ticket.first_response_warn_at,
            ticket.first_response_due,
            ticket.first_responded_at is None,
        ),
        # Stopped while the ticket waits on the customer (pending).
        (
            "resolution",
            ticket.resolution_warn_at,
            ticket.resolution_due,
            ticket.sla_paused_at is None,
        ),
    )
    for name, warn_at, due_at, running in checks:
        if not running or warn_at is None or due_at is None:
            continue
        if aware(due_at) <= now:
            due.append((f"{name}_breach", aware(due_at)))
        elif aware(warn_at) <= now:
            due.append((f"{name}_warning", aware(due_at)))
    return due


LABELS = {
    "first_response_warning": "first answer due soon",
    "first_response_breach": "first answer overdue",
    "resolution_warning": "resolution due soon",
    "resolution_breach": "resolution overdue",
}


def describe(alert: SlaAlert, zone: tzinfo = UTC) -> str:
    """One line for agents: ``:warning: HD-1001 (high) first answer due soon, due
    2026-11-25 15:30 IST: ...``, the due time in the team's zone, named."""
    icon = ":rotating_light:" if alert.kind.endswith("breach") else ":warning:"
    local = alert.due.astimezone(zone)
    due = f"{local:%Y-%m-%d %H:%M} {local.tzname()}"
    label = LABELS.get(alert.kind, alert.kind)
    return f"{icon} {alert.reference} ({alert.priority}) {label}, due {due}: {alert.subject}"


class SlackSlaNotifier:
    """Posts SLA alerts to the Slack agents' channel (the Slack desk's channel)."""

    def __init__(self, client: Any, channel_id: str, *, zone: tzinfo = UTC) -> None:
        self.client = client  # slack_sdk AsyncWebClient (the Slack channel's own)
        self.channel_id = channel_id
        self.zone = zone  # the team's (handoff.business_hours.timezone), as in the console

    async def sla_alert(self, alert: SlaAlert) -> None:
        text = describe(alert, self.zone)
        await self.client.chat_postMessage(channel=self.channel_id, text=text)
