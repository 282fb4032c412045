"""The per-conversation line: arrival order, one at a time, and places given up early."""

from __future__ import annotations

import asyncio

import pytest

from bot.engine.locks import KeyedLocks
from tests.support.waiting import still_pending

KEY = ("webchat", "c1")


async def test_turns_run_one_at_a_time_in_the_order_places_were_taken() -> None:
    locks = KeyedLocks()
    order: list[str] = []
    running = 0
    ready = {name: asyncio.Event() for name in "abc"}

    async def turn(name: str, ready_after: str | None) -> None:
        nonlocal running
        place = locks.place(KEY)
        if ready_after is not None:  # e.g. storing the message before waiting
            await ready[ready_after].wait()
        ready[name].set()
        async with place:
            running += 1
            assert running == 1
            # Held for a while on purpose: a second turn let in now would overlap.
            await asyncio.sleep(0.01)
            order.append(name)
            running -= 1

    # The first to arrive is the last to get ready (b, then c, then a); it still goes first.
    await asyncio.gather(turn("a", "c"), turn("b", None), turn("c", "b"))
    assert order == ["a", "b", "c"]
    assert len(locks) == 0


async def test_other_conversations_do_not_wait() -> None:
    locks = KeyedLocks()
    async with locks.hold(KEY):
        async with asyncio.timeout(1):
            async with locks.hold(("webchat", "c2")):
                pass


async def test_a_place_given_up_before_its_turn_keeps_the_line_exclusive() -> None:
    locks = KeyedLocks()
    first = locks.place(KEY)
    await first.__aenter__()
    abandoned = locks.place(KEY)
    third = locks.place(KEY)
    abandoned.release()  # its message failed to store
    entered = asyncio.ensure_future(third.__aenter__())
    assert await still_pending(entered)  # the first turn is still running
    await first.__aexit__(None, None, None)
    await asyncio.wait_for(entered, 1)
    third.release()
    assert len(locks) == 0


async def test_a_waiter_cancelled_in_line_neither_cancels_nor_skips_the_turn_ahead() -> None:
    locks = KeyedLocks()
    first = locks.place(KEY)
    await first.__aenter__()
    waiting = locks.place(KEY)
    waiter = asyncio.ensure_future(waiting.__aenter__())
    behind = locks.place(KEY)
    await asyncio.sleep(0)  # one loop turn: the waiter starts and waits in its place
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    entered = asyncio.ensure_future(behind.__aenter__())
    assert await still_pending(entered)  # the first still holds its turn
    assert not first.gone.done()
    await first.__aexit__(None, None, None)
    await asyncio.wait_for(entered, 1)
    behind.release()
    assert len(locks) == 0
