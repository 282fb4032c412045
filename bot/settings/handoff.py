"""``handoff``: business hours, the queue and presence, the agent console, the Slack desk."""

from __future__ import annotations

from datetime import date

from pydantic import Field, model_validator

from bot.settings.section import Section
from bot.tickets.business_hours import BusinessHours


class BusinessHoursSettings(Section):
    """When agents work; see :mod:`bot.tickets.business_hours`. An empty ``weekly``: always open."""

    timezone: str = "UTC"
    weekly: dict[str, str] = Field(default_factory=dict)
    closed_on: list[date] = Field(default_factory=list)

    @model_validator(mode="after")
    def _valid(self) -> BusinessHoursSettings:
        self.schedule()  # raises BusinessHoursError (a ValueError) naming the bad key
        return self

    def schedule(self) -> BusinessHours:
        return BusinessHours.parse(
            timezone=self.timezone, weekly=self.weekly, closed_on=self.closed_on
        )


class ConsoleSettings(Section):
    """The web agent console at ``/console`` (served by ``helpdesk run``)."""

    enabled: bool = True
    session_hours: float = Field(default=12, gt=0, le=24 * 30)
    secure_cookies: bool | None = None
    """``Secure`` session cookies; unset: only when the request came over HTTPS."""


class HandoffSettings(Section):
    business_hours: BusinessHoursSettings = Field(default_factory=BusinessHoursSettings)
    queue_timeout_s: float = Field(default=900, gt=0)
    """A queued chat nobody claims within this time becomes a ticket."""
    require_online_agent: bool = True
    """With nobody online (in hours), a ticket is opened at once instead of queueing."""
    presence_timeout_s: float = Field(default=90, gt=0)
    """An agent counts as online while their console has been heard from this recently."""
    position_step: int = Field(default=3, ge=1)
    """Tell a queued customer their new position when it improved by this much (or is 1)."""
    frustration: bool = True
    """Hand over when the customer is repeatedly angry (see bot/engine/frustration.py)."""
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    slack_channel: str | None = Field(default=None, pattern=r"^[CG][A-Z0-9]{2,30}$")
    """The agents' Slack channel id (C… or G…): each handoff becomes a thread there."""
    canned_replies: str = "canned_replies.yml"
    """The team's saved replies (docs/agents.md, "Saved replies"); a missing file: none."""
