"""One line per conversation, so its messages are handled one at a time and in order.

A :class:`Place` is taken synchronously, when a message arrives, and waited for later:
the engine stores (and the platform gets its acknowledgement for) a message while the
turns ahead of it in the same conversation are still running, and the message is still
handled in the order it arrived.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType

Key = tuple[str, str]


class Place:
    """A place in one conversation's line; ``async with place:`` waits for its turn.

    Leaving (``release``, idempotent) lets the next place go once every place ahead has
    gone too, so a place given up early (its message failed to store, its task was
    cancelled while waiting) never lets two turns of one conversation run at once.
    """

    def __init__(self, line: KeyedLocks, key: Key, ahead: asyncio.Future[None] | None) -> None:
        self._line = line
        self._key = key
        self._ahead = ahead
        self._gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._released = False

    @property
    def gone(self) -> asyncio.Future[None]:
        """Resolved once this place and every place ahead of it have left the line."""
        return self._gone

    async def __aenter__(self) -> None:
        if self._ahead is None or self._ahead.done():
            return
        try:
            # shield: a cancelled waiter must not cancel the place ahead of it.
            await asyncio.shield(self._ahead)
        except BaseException:
            self.release()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        if self._ahead is None or self._ahead.done():
            self._leave()
        else:
            self._ahead.add_done_callback(lambda _ahead: self._leave())

    def _leave(self) -> None:
        if not self._gone.done():
            self._gone.set_result(None)
        self._line._forget(self._key, self._gone)


class KeyedLocks:
    """A first-come line per conversation, dropped when nobody is in it."""

    def __init__(self) -> None:
        self._last: dict[Key, asyncio.Future[None]] = {}

    def place(self, key: Key) -> Place:
        """Join the end of ``key``'s line now (no await between arrival and queueing)."""
        place = Place(self, key, self._last.get(key))
        self._last[key] = place.gone
        return place

    @asynccontextmanager
    async def hold(self, key: Key) -> AsyncIterator[None]:
        """Join the line and wait for the turn: a lock that is granted in arrival order."""
        place = self.place(key)
        try:
            async with place:
                yield
        finally:
            place.release()

    def _forget(self, key: Key, gone: asyncio.Future[None]) -> None:
        if self._last.get(key) is gone:
            del self._last[key]

    def __len__(self) -> int:
        return len(self._last)
