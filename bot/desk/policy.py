"""What the desk and the ticket service decide with: the handoff policy, a clock, the
errors an agent sees, and the check on what an agent types."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.messages import OutboundMessage
from bot.settings import HandoffSettings
from bot.storage.models import Conversation
from bot.tickets.business_hours import BusinessHours


@dataclass(frozen=True, slots=True)
class HandoffPolicy:
    hours: BusinessHours
    queue_timeout: timedelta
    presence_timeout: timedelta
    position_step: int = 3
    require_online_agent: bool = True
    frustration: bool = True

    @classmethod
    def from_settings(cls, settings: HandoffSettings) -> HandoffPolicy:
        return cls(
            hours=settings.business_hours.schedule(),
            queue_timeout=timedelta(seconds=settings.queue_timeout_s),
            presence_timeout=timedelta(seconds=settings.presence_timeout_s),
            position_step=settings.position_step,
            require_online_agent=settings.require_online_agent,
            frustration=settings.frustration,
        )


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class DeskError(Exception):
    """An agent action that cannot be done; the message is shown to the agent as-is."""

    status = 400


class NotFound(DeskError):
    status = 404


class NotAllowed(DeskError):
    status = 403


class Conflict(DeskError):
    """Someone else got there first (claimed the chat, changed its state)."""

    status = 409


def clean_text(text: str, *, limit: int, what: str) -> str:
    """An agent's text, stripped; a :class:`DeskError` when it is empty or too long."""
    text = text.strip()
    if not text:
        raise DeskError(f"An empty {what} is not allowed.")
    if len(text) > limit:
        raise DeskError(f"A {what} can be at most {limit} characters.")
    return text


class CustomerLine(Protocol):
    """How the desk reaches customers: through the engine's outbox (implemented by Engine).

    ``store_outbound`` writes the messages in the caller's transaction, so a state
    change and what the customer is told about it commit together; ``deliver`` sends
    them once committed.
    """

    async def store_outbound(
        self,
        session: AsyncSession,
        conversation: Conversation,
        replies: Sequence[OutboundMessage],
        *,
        language: str | None,
        agent_id: int | None = None,
    ) -> list[int]: ...

    async def deliver(self, row_ids: Sequence[int]) -> int: ...
