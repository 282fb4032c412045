"""Tickets: references, priority, the lifecycle rules and the SLA policy from settings.

Lifecycle: ``new`` -> ``open`` -> ``pending`` (waiting on the customer) -> ``resolved``
-> ``closed`` (after the grace period). Agents may move a ticket to any state but
``new``; a customer who writes back about a resolved ticket reopens it (``open``).
The service that acts on tickets is :mod:`bot.tickets.service`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Conversation, Message, Ticket, TicketStatus, aware
from bot.storage.repositories import MessageRepository, TicketRepository
from bot.tickets.sla import PRIORITIES, SlaPolicy, Target, business_time_between

REFERENCE = re.compile(r"\bHD[-\s]?(\d{3,9})\b", re.IGNORECASE)
TRANSCRIPT_LINES = 20

# Explicit urgency, in the bot's languages (lower-case substrings).
URGENT_WORDS = (
    "urgent",
    "asap",
    "emergency",
    "immediately",
    "તાત્કાલિક",
    "અર્જન્ટ",
    "అత్యవసర",
    "వెంటనే",
    "სასწრაფო",
    "დაუყოვნებლივ",
    "तुरंत",
    "अर्जेंट",
    "आपातकाल",
)
# Problems that cost the customer money or access: high unless said to be urgent.
HIGH_WORDS = (
    "charged twice",
    "double charge",
    "refund",
    "fraud",
    "not working",
    "isn't working",
    "stopped working",
    "stops working",
    "no longer works",
    "doesn't work",
    "does not work",
    "can't log in",
    "cannot log in",
    "locked out",
    "broken",
    "damaged",
    "રિફંડ",
    "કામ કરતું નથી",
    "કામ કરતો નથી",
    "કામ કરતી નથી",
    "કામ કરવાનું બંધ",  # stopped working
    "రీఫండ్",
    "పని చేయడం లేదు",
    "పనిచేయడం లేదు",
    "పని చేయడం ఆగి",  # stopped working
    "పనిచేయడం ఆగి",
    "თანხის დაბრუნება",
    "არ მუშაობს",  # also inside "აღარ მუშაობს", no longer works
    "შეწყვიტა მუშაობა",  # stopped working
    "रिफंड",
    "काम नहीं कर",
    "काम करना बंद",  # stopped working
)
# A frustrated customer: one of their last messages showed anger (the signs of
# bot/engine/frustration.py, stored as ``nlu["negative"]``). A frustration handoff
# needs two of three, so every ticket it opens counts.
FRUSTRATION_LOOKBACK = 3


async def was_frustrated(session: AsyncSession, *, conversation_id: int, through: int) -> bool:
    """Whether one of the customer's last messages, up to ``through``, showed anger."""
    recent = await MessageRepository(session).recent_inbound(
        conversation_id, limit=FRUSTRATION_LOOKBACK, through=through
    )
    return any((m.nlu or {}).get("negative") for m in recent)


def find_reference(text: str) -> str | None:
    match = REFERENCE.search(text)
    return f"HD-{match.group(1)}" if match else None


def infer_priority(text: str, *, frustrated: bool = False) -> str:
    """``urgent`` when the customer says so; ``high`` for money/access problems or an
    angry customer; ``normal`` otherwise. Documented in docs/tickets.md."""
    lowered = text.lower()
    if any(word in lowered for word in URGENT_WORDS):
        return "urgent"
    if frustrated or any(word in lowered for word in HIGH_WORDS):
        return "high"
    return "normal"


def can_move(current: TicketStatus, target: TicketStatus) -> bool:
    """Agents may move a ticket anywhere but back to ``new``; a no-op is not a move."""
    return target != current and target != TicketStatus.NEW


@dataclass(frozen=True, slots=True)
class TicketPolicy:
    sla: SlaPolicy
    close_after: timedelta

    @classmethod
    def from_settings(cls, settings: object) -> TicketPolicy:
        """From :class:`bot.settings.Settings`: ``tickets`` plus ``handoff.business_hours``."""
        from bot.settings import Settings

        assert isinstance(settings, Settings)
        tickets = settings.tickets
        targets: dict[str, Target] = {
            str(name): Target(
                timedelta(hours=target.first_response_h), timedelta(hours=target.resolution_h)
            )
            for name, target in tickets.sla.items()
        }
        return cls(
            sla=SlaPolicy(
                hours=settings.handoff.business_hours.schedule(),
                targets=targets,
                warn_fraction=tickets.warn_fraction,
            ),
            close_after=timedelta(hours=tickets.close_after_h),
        )


def stamp_sla(ticket: Ticket, policy: SlaPolicy) -> None:
    """Set the ticket's SLA warning and due times from its priority and creation time."""
    if ticket.priority not in PRIORITIES:
        ticket.priority = "normal"
    paused = timedelta(seconds=ticket.sla_paused_s or 0)
    due = policy.due(ticket.priority, ticket.created_at, paused=paused)
    ticket.first_response_warn_at = due.first_response_warn_at
    ticket.first_response_due = due.first_response_due
    ticket.resolution_warn_at = due.resolution_warn_at
    ticket.resolution_due = due.resolution_due


def paused_in_time(paused_at: datetime | None, due: datetime | None) -> bool:
    """The resolution clock stopped before its due time: waiting on the customer, not late."""
    return paused_at is not None and due is not None and aware(paused_at) < aware(due)


def pause_sla(ticket: Ticket, now: datetime) -> None:
    """The ticket waits on the customer: its resolution clock stops."""
    if ticket.sla_paused_at is None:
        ticket.sla_paused_at = now


def resume_sla(ticket: Ticket, policy: SlaPolicy, now: datetime) -> None:
    """The ticket leaves ``pending``: the open time it waited moves resolution later.

    A ticket already overdue when it was paused gets no credit: waiting on the customer
    does not undo a breach.
    """
    paused_at, ticket.sla_paused_at = ticket.sla_paused_at, None
    if paused_at is None or not paused_in_time(paused_at, ticket.resolution_due):
        return
    waited = business_time_between(policy.hours, aware(paused_at), now)
    ticket.sla_paused_s = (ticket.sla_paused_s or 0) + int(waited.total_seconds())
    stamp_sla(ticket, policy)


async def open_ticket_from_conversation(
    session: AsyncSession,
    conversation: Conversation,
    *,
    trigger: Message,
    language: str,
    priority: str | None = None,
) -> Ticket:
    """A ticket whose description is the recent transcript, so the agent has the context;
    ``high`` (at least) when the customer was frustrated, as :func:`infer_priority` says."""
    messages = MessageRepository(session)
    history = await messages.transcript(conversation.id, limit=TRANSCRIPT_LINES)
    frustrated = await was_frustrated(session, conversation_id=conversation.id, through=trigger.id)
    description = "\n".join(f"[{m.sender}] {m.text}" for m in history)
    return await TicketRepository(session).create(
        customer_id=conversation.customer_id,
        conversation_id=conversation.id,
        subject=trigger.text.strip()[:120] or "Support request",
        description=description,
        language=language,
        actor="customer",
        priority=priority or infer_priority(trigger.text, frustrated=frustrated),
    )
