"""Survey numbers for a period: CSAT, CES and NPS, overall and per channel, language,
intent and agent, and the low scores the team should act on. Pure functions over rows
read by :mod:`bot.reports.survey_queries`; definitions in docs/admins.md ("Surveys").

- **CSAT** (1-5): the average, the distribution, and the share of 4-5 ("satisfied").
- **CES** (1-7, "how easy was it?"): the average, the distribution, and the share of 5-7
  ("easy").
- **NPS** (0-10): promoters score 9-10, passives 7-8, detractors 0-6; NPS is the
  percentage of promoters minus the percentage of detractors (-100 to 100), with the
  counts it was computed from.
- **Low scores**: CSAT 1-2, CES 1-3, NPS 0-6, newest first, with the customer's comment.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SCALES = {"csat": range(1, 6), "ces": range(1, 8), "nps": range(11)}
LOW = {"csat": 2, "ces": 3, "nps": 6}
"""The highest score that counts as low, per survey."""
GOOD = {"csat": 4, "ces": 5}
"""The lowest score that counts as good (satisfied, easy); NPS has promoters instead."""
LOW_SCORES_LISTED = 100


@dataclass(frozen=True, slots=True)
class Answer:
    """One answered survey, with what it can be sliced by."""

    kind: str
    score: int
    channel: str
    language: str | None
    intent: str | None
    agent: str | None
    answered_at: datetime
    comment: str | None = None
    conversation_id: int | None = None
    ticket_reference: str | None = None
    legacy: bool = False
    """A rating from the ``feedback`` table (before surveys): CSAT, no intent or agent."""


@dataclass(frozen=True, slots=True)
class Score:
    """One survey's numbers over some answers."""

    kind: str
    answers: int
    average: float | None
    distribution: dict[int, int]
    good: int | None = None
    """CSAT: 4-5; CES: 5-7; NPS: None."""
    promoters: int | None = None
    passives: int | None = None
    detractors: int | None = None

    @property
    def nps(self) -> float | None:
        if self.kind != "nps" or not self.answers:
            return None
        assert self.promoters is not None and self.detractors is not None
        return round(100 * (self.promoters - self.detractors) / self.answers, 1)

    @property
    def good_rate(self) -> float | None:
        return None if self.good is None or not self.answers else self.good / self.answers

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "answers": self.answers,
            "average": None if self.average is None else round(self.average, 2),
            "distribution": {str(k): v for k, v in sorted(self.distribution.items())},
        }
        if self.kind == "nps":
            data |= {
                "nps": self.nps,
                "promoters": self.promoters,
                "passives": self.passives,
                "detractors": self.detractors,
            }
        else:
            data |= {"good": self.good, "good_rate": self.good_rate}
        return data


def score(kind: str, scores: Iterable[int]) -> Score:
    values = [s for s in scores if s in SCALES[kind]]
    counts = Counter(values)
    distribution = {s: counts.get(s, 0) for s in SCALES[kind]}
    average = statistics.fmean(values) if values else None
    if kind == "nps":
        return Score(
            kind,
            len(values),
            average,
            distribution,
            promoters=sum(1 for s in values if s >= 9),
            passives=sum(1 for s in values if 7 <= s <= 8),
            detractors=sum(1 for s in values if s <= 6),
        )
    return Score(
        kind, len(values), average, distribution, good=sum(1 for s in values if s >= GOOD[kind])
    )


@dataclass
class SurveyNumbers:
    asked: dict[str, int]
    """Surveys asked in the period, per kind (the response rate's denominator)."""
    overall: dict[str, Score]
    per_channel: dict[str, dict[str, Score]] = field(default_factory=dict)
    per_language: dict[str, dict[str, Score]] = field(default_factory=dict)
    per_intent: dict[str, dict[str, Score]] = field(default_factory=dict)
    per_agent: dict[str, dict[str, Score]] = field(default_factory=dict)
    low_scores: list[Answer] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        def sliced(table: dict[str, dict[str, Score]]) -> dict[str, Any]:
            return {
                name: {k: s.as_json() for k, s in kinds.items()} for name, kinds in table.items()
            }

        return {
            "asked": self.asked,
            **{kind: s.as_json() for kind, s in self.overall.items()},
            "per_channel": sliced(self.per_channel),
            "per_language": sliced(self.per_language),
            "per_intent": sliced(self.per_intent),
            "per_agent": sliced(self.per_agent),
            "low_scores": [
                {
                    "kind": a.kind,
                    "score": a.score,
                    "comment": a.comment,
                    "channel": a.channel,
                    "language": a.language,
                    "intent": a.intent,
                    "agent": a.agent,
                    "conversation_id": a.conversation_id,
                    "ticket": a.ticket_reference,
                    "answered_at": a.answered_at.isoformat(),
                }
                for a in self.low_scores
            ],
        }


def summarize_surveys(answers: list[Answer], asked: dict[str, int]) -> SurveyNumbers:
    """The numbers of the period's answers (``asked``: requests per kind in the period)."""

    def by(key: Callable[[Answer], str | None]) -> dict[str, dict[str, Score]]:
        groups: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        for a in answers:
            groups[key(a) or "unknown"][a.kind].append(a.score)
        return {
            name: {kind: score(kind, values) for kind, values in sorted(kinds.items())}
            for name, kinds in sorted(groups.items())
        }

    low = [a for a in answers if a.score <= LOW[a.kind]]
    low.sort(key=lambda a: a.answered_at, reverse=True)
    return SurveyNumbers(
        asked={kind: asked.get(kind, 0) for kind in SCALES},
        overall={
            kind: score(kind, [a.score for a in answers if a.kind == kind]) for kind in SCALES
        },
        per_channel=by(lambda a: a.channel),
        per_language=by(lambda a: a.language),
        per_intent=by(lambda a: a.intent),
        per_agent=by(lambda a: a.agent),
        low_scores=low[:LOW_SCORES_LISTED],
    )
