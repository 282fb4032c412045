"""What is asked when: the ``surveys:`` settings as one value the asking code reads.

Three surveys, each with its scale and its question:

- **CSAT** 1-5, "How would you rate our help?";
- **CES** (customer effort) 1-7, "How easy was it to get your issue solved?";
- **NPS** 0-10, "How likely are you to recommend us to a friend?".

Each is asked on the occasions its settings list (an occasion belongs to one survey at
most), on its channels, and never to a customer who had a survey in the last
``min_days_between`` days (NPS: ``nps_every_days``). Pure values: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from bot.settings import SurveySettings, SurveysSettings


class Occasion(StrEnum):
    BOT_RESOLVED = "bot_resolved"
    """The bot answered from the knowledge base and the customer thanked it or left."""
    AGENT_RESOLVED = "agent_resolved"
    TICKET_RESOLVED = "ticket_resolved"
    TICKET_CLOSED = "ticket_closed"
    PERIODIC = "periodic"
    """The NPS round, by the survey job."""
    TICKET_FOLLOW_UP = "ticket_followup"
    """Not a survey: "did it stay solved?" N days after a ticket's resolution."""


@dataclass(frozen=True, slots=True)
class Scale:
    kind: str
    low: int
    high: int
    question: str
    """The phrase key of the question."""

    @property
    def scores(self) -> range:
        return range(self.low, self.high + 1)


SCALES = {
    "csat": Scale("csat", 1, 5, "csat_request"),
    "ces": Scale("ces", 1, 7, "ces_request"),
    "nps": Scale("nps", 0, 10, "nps_request"),
}
FOLLOW_UP = "followup"


@dataclass(frozen=True, slots=True)
class Survey:
    scale: Scale
    channels: frozenset[str]
    """Empty: every channel."""
    comment_at_most: int | None

    def asks_on(self, channel: str) -> bool:
        return not self.channels or channel in self.channels

    def wants_comment(self, score: int) -> bool:
        return self.comment_at_most is not None and score <= self.comment_at_most


@dataclass(frozen=True, slots=True)
class SurveyPlan:
    """Which survey each occasion asks, the throttles and the follow-up."""

    by_occasion: dict[Occasion, Survey] = field(default_factory=dict)
    min_between: timedelta = timedelta(days=7)
    nps_every: timedelta = timedelta(days=90)
    nps_first_after: timedelta = timedelta(days=30)
    quiet: timedelta = timedelta(minutes=30)
    look_back: timedelta = timedelta(hours=24)
    follow_up_after: timedelta | None = timedelta(days=3)
    """``None``: no follow-ups."""
    follow_up_channels: frozenset[str] = frozenset()
    comments: dict[str, int | None] = field(default_factory=dict)
    """Per survey kind, the score at or below which a comment is asked for."""

    @classmethod
    def from_settings(cls, settings: SurveysSettings) -> SurveyPlan:
        by_occasion: dict[Occasion, Survey] = {}
        comments: dict[str, int | None] = {}
        if settings.enabled:
            for kind, scale in SCALES.items():
                survey_settings: SurveySettings = getattr(settings, kind)
                survey = Survey(
                    scale, frozenset(survey_settings.channels), survey_settings.comment_at_most
                )
                comments[kind] = survey.comment_at_most
                if survey_settings.enabled:
                    for occasion in survey_settings.when:
                        by_occasion[Occasion(occasion)] = survey
        follow_up = settings.follow_up
        return cls(
            by_occasion=by_occasion,
            min_between=timedelta(days=settings.min_days_between),
            nps_every=timedelta(days=settings.nps_every_days),
            nps_first_after=timedelta(days=settings.nps_first_after_days),
            quiet=timedelta(minutes=settings.quiet_minutes),
            look_back=timedelta(hours=settings.look_back_hours),
            follow_up_after=(
                timedelta(days=follow_up.after_days)
                if settings.enabled and follow_up.enabled
                else None
            ),
            follow_up_channels=frozenset(follow_up.channels),
            comments=comments,
        )

    @classmethod
    def default(cls) -> SurveyPlan:
        return cls.from_settings(SurveysSettings())

    def survey_for(self, occasion: Occasion, channel: str) -> Survey | None:
        survey = self.by_occasion.get(occasion)
        return survey if survey is not None and survey.asks_on(channel) else None

    def wants_comment(self, kind: str, score: int) -> bool:
        limit = self.comments.get(kind)
        return limit is not None and score <= limit
