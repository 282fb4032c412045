"""Advisory locks and leadership across workers, on the real PostgreSQL.

Two :class:`ClusterLocks` are two workers (each has its own database session); a
separate process killed with SIGKILL shows that a dead worker's locks go with it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from bot.cluster.leader import Leadership
from bot.cluster.locks import ClusterLocks, asyncpg_dsn, lock_id
from tests.support.waiting import wait_until


async def test_a_lock_held_by_one_worker_is_refused_to_another_until_released(
    pg_url: str,
) -> None:
    one, two = ClusterLocks(pg_url), ClusterLocks(pg_url)
    try:
        assert await one.try_take("conversation:webchat:a")
        assert not await two.try_take("conversation:webchat:a")
        assert await two.try_take("conversation:webchat:b")  # other keys are free
        await one.release("conversation:webchat:a")
        assert await two.try_take("conversation:webchat:a")
    finally:
        await one.close()
        await two.close()


async def test_holders_of_one_name_never_overlap_across_workers(pg_url: str) -> None:
    workers = [ClusterLocks(pg_url) for _ in range(3)]
    inside = 0
    most_inside = 0
    entries = 0

    async def turn(locks: ClusterLocks) -> None:
        nonlocal inside, most_inside, entries
        async with locks.hold("conversation:telegram:42"):
            inside += 1
            entries += 1
            most_inside = max(most_inside, inside)
            await asyncio.sleep(0.005)
            inside -= 1

    async def worker(locks: ClusterLocks) -> None:
        for _ in range(5):  # a worker's own turns of one conversation queue in process
            await turn(locks)

    try:
        await asyncio.gather(*(worker(locks) for locks in workers))
    finally:
        for locks in workers:
            await locks.close()
    assert most_inside == 1
    assert entries == 15


async def test_taking_a_name_twice_in_one_worker_is_a_bug_and_says_so(pg_url: str) -> None:
    locks = ClusterLocks(pg_url)
    try:
        assert await locks.try_take("x")
        with pytest.raises(RuntimeError, match="already held"):
            await locks.try_take("x")
    finally:
        await locks.close()


async def test_try_hold_tells_the_block_whether_it_got_the_lock(pg_url: str) -> None:
    one, two = ClusterLocks(pg_url), ClusterLocks(pg_url)
    try:
        async with one.try_hold("sweep") as first, two.try_hold("sweep") as second:
            assert (first, second) == (True, False)
        async with two.try_hold("sweep") as again:
            assert again
    finally:
        await one.close()
        await two.close()


def _hold_forever_script(dsn: str, key: int) -> str:
    return textwrap.dedent(
        f"""
        import asyncio, asyncpg, sys
        async def main():
            connection = await asyncpg.connect({dsn!r})
            assert await connection.fetchval("SELECT pg_try_advisory_lock($1)", {key})
            print("held", flush=True)
            await asyncio.sleep(3600)
        asyncio.run(main())
        """
    )


async def test_a_worker_killed_with_sigkill_lets_its_locks_go_within_seconds(
    pg_url: str,
) -> None:
    name = "conversation:slack:killed"
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _hold_forever_script(asyncpg_dsn(pg_url), lock_id(name)),
        stdout=subprocess.PIPE,
    )
    survivor = ClusterLocks(pg_url)
    try:
        assert worker.stdout is not None
        assert await asyncio.wait_for(worker.stdout.readline(), 30) == b"held\n"
        assert not await survivor.try_take(name)
        os.kill(worker.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        await asyncio.wait_for(worker.wait(), 10)
        await wait_until(
            lambda: survivor.try_take(name), within=10, what="the dead worker's lock to go"
        )
        assert time.monotonic() - killed_at < 10
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
        await survivor.close()


async def test_one_leader_at_a_time_and_another_takes_over_when_it_goes(pg_url: str) -> None:
    locks = [ClusterLocks(pg_url) for _ in range(3)]
    leaders = [
        Leadership(lock, worker_id=f"w{i}", check_every_s=0.01) for i, lock in enumerate(locks)
    ]
    try:
        first = [await leader.is_leader() for leader in leaders]
        assert first.count(True) == 1
        again = [await leader.is_leader() for leader in leaders]
        assert again == first  # the lead stays where it is
        gone = first.index(True)
        await locks[gone].close()  # the leader's session ends, as when its process dies
        await asyncio.sleep(0.02)
        rest = [leader for i, leader in enumerate(leaders) if i != gone]
        after = [await leader.is_leader() for leader in rest]
        assert after.count(True) == 1
    finally:
        for lock in locks:
            await lock.close()


async def test_a_leader_whose_lock_connection_broke_stops_leading(pg_url: str) -> None:
    locks, other = ClusterLocks(pg_url), ClusterLocks(pg_url)
    leader = Leadership(locks, worker_id="w1", check_every_s=0.01)
    rival = Leadership(other, worker_id="w2", check_every_s=0.01)
    try:
        assert await leader.is_leader()
        assert not await rival.is_leader()
        await _terminate_backend(other, locks)  # the database drops the leader's session
        await asyncio.sleep(0.02)
        assert await rival.is_leader()
        assert not await leader.is_leader()
    finally:
        await locks.close()
        await other.close()


async def _terminate_backend(admin: ClusterLocks, victim: ClusterLocks) -> None:
    connection = victim._connection  # the test plays the database's part
    pid = connection.get_server_pid()
    await admin._query("SELECT pg_terminate_backend($1)", pid)
