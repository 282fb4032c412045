"""``tickets``: SLA targets per priority, warnings and closing."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from bot.settings.section import Section


class SlaTargetSettings(Section):
    """Business hours to the first agent answer and to resolution."""

    first_response_h: float = Field(gt=0)
    resolution_h: float = Field(gt=0)


Priority = Literal["low", "normal", "high", "urgent"]


def _default_sla() -> dict[Priority, SlaTargetSettings]:
    return {
        "urgent": SlaTargetSettings(first_response_h=1, resolution_h=8),
        "high": SlaTargetSettings(first_response_h=4, resolution_h=24),
        "normal": SlaTargetSettings(first_response_h=8, resolution_h=40),
        "low": SlaTargetSettings(first_response_h=24, resolution_h=80),
    }


class TicketsSettings(Section):
    """Ticket SLAs (measured in ``handoff.business_hours``), warnings and closing."""

    sla: dict[Priority, SlaTargetSettings] = Field(default_factory=_default_sla)
    warn_fraction: float = Field(default=0.8, gt=0, lt=1)
    """Agents are warned when this fraction of a target has passed."""
    close_after_h: float = Field(default=72, gt=0)
    """A resolved ticket closes after this many (wall-clock) hours without a reply."""
    sweep_every_s: float = Field(default=30, gt=0)

    @model_validator(mode="after")
    def _normal_present(self) -> TicketsSettings:
        if "normal" not in self.sla:
            raise ValueError("tickets.sla needs at least a 'normal' priority")
        return self
