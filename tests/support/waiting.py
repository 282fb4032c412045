"""Waiting in tests for something the code under test does, where it signals no event.

Prefer an event the code or a fake server sets (``FakeSlack.wait_for``,
``GatedNlu.reached``). These helpers are for the rest: state that is only visible by
looking at it (a row, a flag on a third-party object, a server in another process).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any


async def wait_until(
    condition: Callable[[], object], *, within: float, what: str, every: float = 0.01
) -> None:
    """Return as soon as ``condition()`` is true; fail the test after ``within`` seconds.

    ``condition`` may be a plain function or a coroutine function (e.g. one that reads a
    row). It is checked at once, then every ``every`` seconds until the deadline.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() >= deadline:
            raise AssertionError(f"not within {within:.2f} s: {what}")
        await asyncio.sleep(every)


async def still_pending(future: asyncio.Future[Any], *, for_s: float = 0.05) -> bool:
    """True if ``future`` is still not done after ``for_s`` seconds.

    Seeing that something does *not* happen takes a while by nature; this returns early
    (False) the moment it does happen, so a broken guarantee fails fast.
    """
    done, _ = await asyncio.wait({future}, timeout=for_s)
    return not done
