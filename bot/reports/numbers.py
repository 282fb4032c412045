"""The numbers admins watch, computed from the stored history (docs/admins.md defines each).

:func:`conversation_facts` reads one conversation's messages, state changes, tickets
and feedback; :func:`summarize` turns many into the dashboard's numbers. Both are pure:
the queries live in :mod:`bot.reports.numbers_queries`, so the definitions are tested on
hand-made histories.

Deflection, exactly: a conversation is *deflected* when, within 24 hours of the
customer's first message, (1) the bot answered at least one message from the knowledge
base, (2) no human was involved (never queued for or taken by an agent), (3) no ticket
was opened for it, (4) it was not reopened (no "customer returned" to a resolved chat,
and no customer message after 30 minutes of silence following an FAQ answer), and
(5) there was no negative feedback (a "not helpful" vote or a CSAT rating of 1-2).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

DEFLECTION_WINDOW = timedelta(hours=24)
RETURN_GAP = timedelta(minutes=30)
HUMAN_STATES = frozenset({"queued", "agent"})


@dataclass(frozen=True, slots=True)
class Event:
    """One timed thing in a conversation, in the shape the computation needs."""

    at: datetime
    kind: str
    """``in``, ``out``, ``agent_out``, ``handoff``, ``resolved``, ``returned``, ``ticket``,
    ``vote``, ``csat``."""
    value: str | None = None
    """The FAQ id of an answered ``in``; the reason of a ``handoff``; ``yes``/``no`` of a
    ``vote``; the score of a ``csat``."""


@dataclass(frozen=True, slots=True)
class ConversationFacts:
    channel: str
    language: str
    started_at: datetime
    faq_answers: tuple[str, ...]
    human: bool
    handoff_reason: str | None
    ticket: bool
    reopened: bool
    negative_feedback: bool
    first_response_s: float | None
    human_first_response_s: float | None
    resolution_s: float | None

    @property
    def deflected(self) -> bool:
        return (
            bool(self.faq_answers)
            and not self.human
            and not self.ticket
            and not self.reopened
            and not self.negative_feedback
        )


def conversation_facts(
    channel: str, language: str | None, events: list[Event]
) -> ConversationFacts | None:
    """The facts of one conversation from its events; None when the customer never wrote."""
    events = sorted(events, key=lambda e: e.at)
    inbound = [e for e in events if e.kind == "in"]
    if not inbound:
        return None
    start = inbound[0].at
    window = [e for e in events if e.at - start <= DEFLECTION_WINDOW]
    answers = tuple(e.value for e in window if e.kind == "in" and e.value)
    handoffs = [e for e in window if e.kind == "handoff"]
    first_out = next(
        (e.at for e in events if e.kind in ("out", "agent_out") and e.at >= start), None
    )
    first_handoff = next((e.at for e in events if e.kind == "handoff"), None)
    first_agent = next(
        (e.at for e in events if e.kind == "agent_out" and first_handoff and e.at >= first_handoff),
        None,
    )
    resolved = next((e.at for e in events if e.kind == "resolved"), None)
    return ConversationFacts(
        channel=channel,
        language=language or "unknown",
        started_at=start,
        faq_answers=answers,
        human=bool(handoffs),
        handoff_reason=handoffs[0].value if handoffs else None,
        ticket=any(e.kind == "ticket" for e in window),
        reopened=_reopened(window),
        negative_feedback=any(
            (e.kind == "vote" and e.value == "no")
            or (e.kind == "csat" and e.value is not None and int(e.value) <= 2)
            for e in window
        ),
        first_response_s=_seconds(start, first_out),
        human_first_response_s=_seconds(first_handoff, first_agent),
        resolution_s=_seconds(start, resolved),
    )


def _reopened(window: list[Event]) -> bool:
    if any(e.kind == "returned" for e in window):
        return True
    answered_at: datetime | None = None
    previous: datetime | None = None
    for event in window:
        came_back = event.kind == "in" and answered_at is not None and previous is not None
        if came_back and previous is not None and event.at - previous >= RETURN_GAP:
            return True
        if event.kind in ("in", "out", "agent_out"):
            previous = event.at
        if event.kind == "in" and event.value:
            answered_at = event.at
    return False


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


@dataclass(frozen=True, slots=True)
class Durations:
    count: int
    median_s: float | None
    p90_s: float | None
    mean_s: float | None

    @classmethod
    def of(cls, values: list[float]) -> Durations:
        if not values:
            return cls(0, None, None, None)
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
        return cls(len(values), statistics.median(ordered), p90, statistics.fmean(ordered))


@dataclass(frozen=True, slots=True)
class Share:
    count: int
    total: int

    @property
    def rate(self) -> float | None:
        return self.count / self.total if self.total else None


@dataclass(frozen=True, slots=True)
class Slice:
    """Conversations, deflection and handoffs of one channel or language."""

    conversations: int
    deflected: int
    handoffs: int


@dataclass(frozen=True, slots=True)
class FaqNumbers:
    answers: int
    helpful: int
    not_helpful: int


@dataclass(frozen=True, slots=True)
class Sla:
    """Tickets whose SLA target fell due in the period, and how many met it."""

    first_response: Share
    resolution: Share


@dataclass
class Numbers:
    start: datetime
    end: datetime
    conversations: int
    deflection: Share
    handoff: Share
    handoff_reasons: dict[str, int]
    first_response: Durations
    human_first_response: Durations
    resolution: Durations
    csat: Share
    """Ratings of 4 or 5 out of all ratings."""
    csat_average: float | None
    sla: Sla
    per_channel: dict[str, Slice] = field(default_factory=dict)
    per_language: dict[str, Slice] = field(default_factory=dict)
    per_faq: dict[str, FaqNumbers] = field(default_factory=dict)
    daily: list[tuple[date, int, int]] = field(default_factory=list)
    """(day, conversations, deflected) for the charts."""

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("deflection", "handoff", "csat"):
            data[key]["rate"] = getattr(self, key).rate
        for key in ("first_response", "resolution"):
            data["sla"][key]["rate"] = getattr(self.sla, key).rate
        data["start"], data["end"] = self.start.isoformat(), self.end.isoformat()
        data["daily"] = [
            {"day": d.isoformat(), "conversations": c, "deflected": x} for d, c, x in self.daily
        ]
        return data


def summarize(
    facts: list[ConversationFacts],
    *,
    start: datetime,
    end: datetime,
    votes: list[tuple[str, bool]],
    csat_scores: list[int],
    sla: Sla,
) -> Numbers:
    """The dashboard's numbers for conversations that started in ``[start, end)``."""
    deflected = [f for f in facts if f.deflected]
    human = [f for f in facts if f.human]
    per_faq: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for f in facts:
        for faq_id in f.faq_answers:
            per_faq[faq_id][0] += 1
    for faq_id, helpful in votes:
        per_faq[faq_id][1 if helpful else 2] += 1
    days: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for f in facts:
        days[f.started_at.date()][0] += 1
        days[f.started_at.date()][1] += int(f.deflected)
    return Numbers(
        start=start,
        end=end,
        conversations=len(facts),
        deflection=Share(len(deflected), len(facts)),
        handoff=Share(len(human), len(facts)),
        handoff_reasons=dict(Counter(f.handoff_reason or "unknown" for f in human).most_common()),
        first_response=Durations.of(
            [f.first_response_s for f in facts if f.first_response_s is not None]
        ),
        human_first_response=Durations.of(
            [f.human_first_response_s for f in facts if f.human_first_response_s is not None]
        ),
        resolution=Durations.of([f.resolution_s for f in facts if f.resolution_s is not None]),
        csat=Share(sum(1 for s in csat_scores if s >= 4), len(csat_scores)),
        csat_average=statistics.fmean(csat_scores) if csat_scores else None,
        sla=sla,
        per_channel=_slices(facts, lambda f: f.channel),
        per_language=_slices(facts, lambda f: f.language),
        per_faq={k: FaqNumbers(*v) for k, v in sorted(per_faq.items())},
        daily=[(d, c, x) for d, (c, x) in sorted(days.items())],
    )


def _slices(facts: list[ConversationFacts], key: Any) -> dict[str, Slice]:
    groups: dict[str, list[ConversationFacts]] = defaultdict(list)
    for f in facts:
        groups[key(f)].append(f)
    return {
        name: Slice(len(group), sum(f.deflected for f in group), sum(f.human for f in group))
        for name, group in sorted(groups.items())
    }
