"""A second bot worker, as far as the desk relay goes, in its own OS process.

``python -m tests.support.relay_worker REDIS_URL PREFIX`` runs a ``DeskEvents`` with a
``RedisRelay``, prints ``ready`` once subscribed, then answers: every ``message`` event
whose data has ``"ping"`` from another worker is published back here as a ``message``
event with ``"pong"`` (so it travels the relay back), and every ``outbox`` notice is
answered with a ``queue`` event carrying the notice's data. It ends when stdin closes.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from bot.cluster.relay import RedisRelay
from bot.events import DeskEvent, DeskEvents, EventKind


async def main(url: str, prefix: str) -> None:
    events = DeskEvents()
    relay = RedisRelay(
        url, worker_id=f"child:{os.getpid()}", events=events, prefix=prefix, retry_after_s=0.05
    )

    async def on_outbox(data: dict[str, Any]) -> None:
        events.publish(DeskEvent(EventKind.QUEUE, None, {"notice": data}))

    relay.on_notice("outbox", on_outbox)
    running = asyncio.create_task(relay.run())
    async with events.subscribe() as subscription:
        await relay.connected.wait()
        print("ready", flush=True)

        async def answer() -> None:
            async for event in subscription:
                if event.kind == EventKind.MESSAGE and "ping" in event.data:
                    pong = {"pong": event.data["ping"], "pid": os.getpid()}
                    events.publish(DeskEvent(EventKind.MESSAGE, event.conversation_id, pong))

        answering = asyncio.create_task(answer())
        await asyncio.to_thread(sys.stdin.read)  # until the test closes our stdin
        answering.cancel()
    await relay.stop()
    await asyncio.gather(running, answering, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
