"""How the Telegram channel waits and retries: flood control (429) and network trouble."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import timedelta

from telegram.error import RetryAfter
from telegram.warnings import PTBDeprecationWarning


@dataclass(frozen=True, slots=True)
class Backoff:
    """Growing delays, in seconds; the last one repeats."""

    delays: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0)

    def delay(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (1-based)."""
        return self.delays[min(max(attempt, 1), len(self.delays)) - 1]


@dataclass(frozen=True, slots=True)
class SendRetryPolicy:
    """Bounds for one ``send()``: past them the engine's outbox keeps the reply and retries.

    ``flood_retries``/``max_flood_wait_s``: how often and how long to honour a 429's
    ``retry_after`` inside one send; ``network_backoff``: the waits after network
    errors or Telegram 5xx, one retry per entry.
    """

    flood_retries: int = 3
    max_flood_wait_s: float = 60.0
    network_backoff: tuple[float, ...] = (0.5, 1.0, 2.0)


def retry_after_s(error: RetryAfter) -> float:
    """Seconds to wait, whichever type this python-telegram-bot version returns.

    PTB 22 warns that ``retry_after`` will become a ``timedelta``; the value is the same.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)
