"""Long polling that confirms an update to Telegram only once it is stored.

python-telegram-bot's own ``Updater`` confirms a batch (the next ``getUpdates`` offset)
as soon as it is queued, before anything is stored: a crash then loses the batch. Here
each update travels as a :class:`TelegramDelivery` through the Application's queue, and
the offset moves past it only when the engine has committed it (or decided to ignore it).
A crash re-fetches the unconfirmed updates; the engine drops the ones it already has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from telegram import Bot, Update
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TelegramError

from bot.channels.telegram.inbound import MalformedUpdate
from bot.channels.telegram.retry import Backoff, retry_after_s

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ("message", "callback_query")
"""What the bot asks Telegram for: edits, channel posts and the rest are never fetched."""


@dataclass(eq=False)
class TelegramDelivery:
    """One update on its way through the Application; ``stored`` resolves once it is safe.

    Safe means committed by the engine (or deliberately ignored); it fails when storing
    failed, so the update must be fetched or posted again. It fails with
    :class:`MalformedUpdate` for an update that can never be stored: that one is skipped.
    """

    update: Update
    stored: asyncio.Future[None] = field(init=False)

    def __post_init__(self) -> None:
        self.stored = asyncio.get_running_loop().create_future()
        # Nobody may be waiting any more (a webhook request that timed out).
        self.stored.add_done_callback(_consume)

    def settle(self) -> None:
        if not self.stored.done():
            self.stored.set_result(None)

    def fail(self, error: BaseException) -> None:
        if not self.stored.done():
            self.stored.set_exception(error)


def _consume(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


class UpdatePoller:
    """``getUpdates`` in a loop, feeding ``queue`` and confirming what is stored."""

    def __init__(
        self,
        bot: Bot,
        queue: asyncio.Queue[Any],
        *,
        timeout_s: int,
        backoff: Backoff,
    ) -> None:
        self._bot = bot
        self._queue = queue
        self._timeout_s = timeout_s
        self._backoff = backoff
        self._offset: int | None = None
        self._batch: Sequence[TelegramDelivery] = ()

    async def run(self) -> None:
        """Poll until cancelled; an invalid token ends it (logged: nothing else can help)."""
        failures = 0
        while True:
            try:
                updates = await self._bot.get_updates(
                    offset=self._offset,
                    timeout=self._timeout_s,
                    allowed_updates=list(ALLOWED_UPDATES),
                )
            except InvalidToken:
                log.error("Telegram rejected TELEGRAM_BOT_TOKEN; polling stopped")
                return
            except RetryAfter as exc:
                await asyncio.sleep(retry_after_s(exc))
                continue
            except Conflict as exc:
                # Another process polls with this token, or a webhook is set.
                log.error("Telegram polling conflict: %s", exc.message)
                await asyncio.sleep(self._backoff.delay(failures := failures + 1))
                continue
            except (NetworkError, TelegramError) as exc:
                log.warning("getUpdates failed (%s); retrying", exc.message)
                await asyncio.sleep(self._backoff.delay(failures := failures + 1))
                continue
            failures = 0
            if updates and not await self._deliver(updates):
                await asyncio.sleep(self._backoff.delay(1))

    async def _deliver(self, updates: Sequence[Update]) -> bool:
        """Hand a batch over and wait until it is stored; confirm the stored prefix."""
        self._batch = [TelegramDelivery(update) for update in updates]
        for delivery in self._batch:
            await self._queue.put(delivery)
        await asyncio.gather(
            *(asyncio.shield(d.stored) for d in self._batch), return_exceptions=True
        )
        return self._advance()

    def _advance(self) -> bool:
        for delivery in self._batch:
            stored = delivery.stored
            failed = stored.done() and not stored.cancelled() and stored.exception() is not None
            if failed and isinstance(stored.exception(), MalformedUpdate):
                failed = False  # fetching it again would fail again: skip it
            if not stored.done() or stored.cancelled() or failed:
                # Fetch it again (the ones after it too; the engine drops duplicates).
                self._offset = delivery.update.update_id
                log.warning("update %d not stored; it will be fetched again", self._offset)
                return False
            self._offset = delivery.update.update_id + 1
        self._batch = ()
        return True

    async def confirm(self) -> None:
        """Tell Telegram what was stored (on shutdown), so a restart does not re-fetch it."""
        self._advance()
        if self._offset is None:
            return
        with contextlib.suppress(TelegramError):
            await self._bot.get_updates(offset=self._offset, timeout=0, limit=1)
