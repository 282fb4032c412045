"""What a conversation's cluster lock costs, and how fast a dead worker lets go.

    .venv/bin/python bench/cluster_locks.py [--database-url URL] [--rounds N] [--json FILE]

On the real PostgreSQL (default ``postgresql://postgres@127.0.0.1:5432/test``):

- **uncontended**: one worker takes and releases conversation locks, one after another,
  on its one lock connection: the cost every turn pays (two round trips);
- **concurrent**: 50 conversations at once on one worker, each taking and releasing its
  lock: the lock connection is shared, so this is its throughput;
- **handover**: two workers take turns on one conversation (the rare case of one chatty
  customer's messages on two workers at once): how long the second waits after the
  first let go, with the polling of ``bot/cluster/locks.py``;
- **kill -9**: a worker process holding a lock is killed; how long until another worker
  takes that lock (the start of orphan recovery).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.cluster.locks import ClusterLocks, asyncpg_dsn, lock_id

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"

HOLDER = """
import asyncio, asyncpg, sys
async def main():
    connection = await asyncpg.connect(sys.argv[1])
    assert await connection.fetchval("SELECT pg_try_advisory_lock($1)", int(sys.argv[2]))
    print("held", flush=True)
    await asyncio.sleep(3600)
asyncio.run(main())
"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def uncontended(url: str, rounds: int) -> dict[str, float]:
    locks = ClusterLocks(url)
    try:
        await locks.try_take("warm-up")
        await locks.release("warm-up")
        times = []
        for i in range(rounds):
            started = time.perf_counter()
            async with locks.hold(f"conversation:bench:{i}"):
                pass
            times.append((time.perf_counter() - started) * 1000)
    finally:
        await locks.close()
    return {
        "per_s": rounds / (sum(times) / 1000),
        "p50_ms": statistics.median(times),
        "p99_ms": percentile(times, 0.99),
    }


async def concurrent(url: str, rounds: int, conversations: int = 50) -> dict[str, float]:
    locks = ClusterLocks(url)

    async def conversation(n: int) -> None:
        for i in range(rounds // conversations):
            async with locks.hold(f"conversation:bench:{n}:{i}"):
                await asyncio.sleep(0)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(conversation(n) for n in range(conversations)))
        elapsed = time.perf_counter() - started
    finally:
        await locks.close()
    return {"per_s": (rounds // conversations) * conversations / elapsed}


async def handover(url: str, rounds: int) -> dict[str, float]:
    one, two = ClusterLocks(url), ClusterLocks(url)
    name = "conversation:bench:chatty"
    waits = []
    try:
        for _ in range(rounds):
            await one.try_take(name)
            waiting = asyncio.ensure_future(_take_when_free(two, name))
            await asyncio.sleep(0.005)  # the first worker's turn
            released = time.perf_counter()
            await one.release(name)
            took = await waiting
            waits.append((took - released) * 1000)
            await two.release(name)
    finally:
        await one.close()
        await two.close()
    return {"p50_ms": statistics.median(waits), "p99_ms": percentile(waits, 0.99)}


async def _take_when_free(locks: ClusterLocks, name: str) -> float:
    async with locks.hold(name):
        return time.perf_counter()


async def after_kill(url: str, rounds: int) -> dict[str, float]:
    delays = []
    survivor = ClusterLocks(url)
    try:
        for i in range(rounds):
            name = f"conversation:bench:killed:{i}"
            holder = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                HOLDER,
                asyncpg_dsn(url),
                str(lock_id(name)),
                stdout=asyncio.subprocess.PIPE,
            )
            assert holder.stdout is not None
            assert await holder.stdout.readline() == b"held\n"
            os.kill(holder.pid, signal.SIGKILL)
            killed = time.perf_counter()
            for _ in range(100_000):  # tried every millisecond: the release is the event
                if await survivor.try_take(name):
                    break
                await asyncio.sleep(0.001)
            delays.append((time.perf_counter() - killed) * 1000)
            await survivor.release(name)
            await holder.wait()
    finally:
        await survivor.close()
    return {"p50_ms": statistics.median(delays), "max_ms": max(delays)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    url = args.database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    results = {
        "uncontended": await uncontended(url, args.rounds),
        "concurrent_50": await concurrent(url, args.rounds),
        "handover": await handover(url, max(20, args.rounds // 20)),
        "kill9": await after_kill(url, 5),
    }
    for name, figures in results.items():
        shown = ", ".join(f"{key} {value:.2f}" for key, value in figures.items())
        print(f"{name:13} {shown}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())
