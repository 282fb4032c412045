"""``surveys``: CSAT, CES and NPS (when each is asked) and the follow-up after a resolution."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from bot.settings.section import Section

Occasion = Literal["bot_resolved", "agent_resolved", "ticket_resolved", "ticket_closed", "periodic"]


class SurveySettings(Section):
    """One survey (CSAT, CES or NPS): when it is asked, where, and the comment for low scores."""

    enabled: bool = True
    when: list[Occasion] = Field(default_factory=list)
    """The occasions it is asked on (each occasion belongs to one survey at most). Not
    ``on``: YAML reads a bare ``on`` as ``true``."""
    channels: list[str] = Field(default_factory=list)
    """The channels it is asked on (``telegram``, ``slack``, ``webchat``); empty: all."""
    comment_at_most: int | None = None
    """A score this low or lower gets "What could we do better?"; unset: never."""


def _survey(when: list[Occasion], comment_at_most: int, *, enabled: bool = True) -> SurveySettings:
    return SurveySettings(enabled=enabled, when=when, comment_at_most=comment_at_most)


class FollowUpSettings(Section):
    """N days after a ticket is resolved: "did it stay solved?" (yes closes, no reopens)."""

    enabled: bool = True
    after_days: float = Field(default=2, gt=0)
    """Keep it under ``tickets.close_after_h``: the closing sweep closes resolved tickets
    then, and a closed ticket's "yes" has nothing left to close ("no" still reopens)."""
    channels: list[str] = Field(default_factory=list)


class SurveysSettings(Section):
    """Customer surveys and the follow-up after a resolution (docs/admins.md, "Surveys")."""

    enabled: bool = True
    min_days_between: float = Field(default=7, ge=0)
    """At most one survey per customer in this many days (follow-ups aside)."""
    nps_every_days: float = Field(default=90, ge=1)
    """The periodic NPS: at most this often per customer."""
    nps_first_after_days: float = Field(default=30, ge=0)
    """... and not before the customer has known us this long."""
    quiet_minutes: float = Field(default=30, gt=0)
    """A customer who got an FAQ answer and then wrote nothing this long "left" satisfied."""
    look_back_hours: float = Field(default=24, gt=0)
    """Answers older than this are not asked about (a first start never surveys old chats)."""
    check_every_s: float = Field(default=60, gt=0)
    """How often the survey job looks for customers who left, follow-ups and NPS rounds."""
    csat: SurveySettings = Field(
        default_factory=lambda: _survey(["agent_resolved", "ticket_resolved"], 2)
    )
    ces: SurveySettings = Field(default_factory=lambda: _survey(["bot_resolved"], 3))
    nps: SurveySettings = Field(default_factory=lambda: _survey(["periodic"], 6, enabled=False))
    follow_up: FollowUpSettings = Field(default_factory=FollowUpSettings)

    @model_validator(mode="after")
    def _one_survey_per_occasion(self) -> SurveysSettings:
        seen: dict[str, str] = {}
        for name in ("csat", "ces", "nps"):
            survey: SurveySettings = getattr(self, name)
            for occasion in survey.when if survey.enabled else ():
                if occasion in seen:
                    raise ValueError(
                        f"{occasion} is asked by both {seen[occasion]} and {name}: choose one"
                    )
                seen[occasion] = name
        return self
