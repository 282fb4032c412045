"""The desk's event fan-out: every open console (and later the Slack desk) subscribes.

Events are small and self-describing; a subscriber that needs more reads it from
the database. Publishing never blocks: a subscriber that stops reading (a frozen
browser tab) loses events beyond its buffer and is told to resynchronise.

The bus delivers to the subscribers of this process. With several bot workers a
relay (``bot.cluster.relay.RedisRelay``) sets :attr:`DeskEvents.relay`: every event
published here is then also forwarded to the other workers, and their events come in
through :meth:`DeskEvents.deliver_local`. Callers keep ``subscribe()`` and
``publish()`` either way.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

BUFFER = 1000


class EventKind(enum.StrEnum):
    MESSAGE = "message"  # a customer, bot or agent message in a conversation
    CONVERSATION = "conversation"  # state or owner changed (claimed, queued, resolved, ...)
    QUEUE = "queue"  # the queue changed (someone joined or left)
    NOTE = "note"  # an internal note was added
    PRESENCE = "presence"  # an agent went online, away or offline
    RESYNC = "resync"  # this subscriber missed events: reload
    TICKET = "ticket"  # a ticket changed or an SLA warning/breach fired


@dataclass(frozen=True, slots=True)
class DeskEvent:
    kind: EventKind
    conversation_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "conversation_id": self.conversation_id, **self.data}


class Subscription:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[DeskEvent] = asyncio.Queue(BUFFER)
        self._overflowed = False

    def offer(self, event: DeskEvent) -> None:
        if self._overflowed:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self._overflowed = True

    async def next(self) -> DeskEvent:
        if self._overflowed and self._queue.empty():
            self._overflowed = False
            return DeskEvent(EventKind.RESYNC)
        return await self._queue.get()

    def __aiter__(self) -> AsyncIterator[DeskEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[DeskEvent]:
        while True:
            yield await self.next()


class EventRelay(Protocol):
    """Carries this worker's events to the other workers (see ``bot.cluster.relay``)."""

    def forward(self, event: DeskEvent) -> None:
        """Take one event for the other workers; never blocks, never raises."""


class DeskEvents:
    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()
        self.relay: EventRelay | None = None
        """Set by a relay (from its construction to its stop); ``None``: one process."""

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        subscription = Subscription()
        self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)

    def publish(self, event: DeskEvent) -> None:
        """Deliver to this worker's subscribers at once and hand to the relay, if any."""
        self.deliver_local(event)
        if self.relay is not None:
            self.relay.forward(event)

    def deliver_local(self, event: DeskEvent) -> None:
        """Offer to this worker's subscribers only (an event another worker published)."""
        for subscription in list(self._subscribers):
            subscription.offer(event)

    def __len__(self) -> int:
        return len(self._subscribers)
