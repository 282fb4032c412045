"""The desk's live events and notices across workers, on the real Redis.

Each test has its own channel prefix, so runs side by side never hear each other.
"Exactly once" is shown without sleeping: after the event under test, the *other*
worker publishes a fence; Redis delivers to each subscriber in publish order, so once
the fence has arrived, any copy of the earlier event would have arrived before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis

from bot.cluster.relay import RedisRelay
from bot.events import DeskEvent, DeskEvents, EventKind
from bot.nlu.rasa_server import free_port
from tests.conftest import IN_CI, ROOT
from tests.support.waiting import wait_until

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
WITHIN = 10.0  # generous: a busy 2-core machine


@pytest.fixture(scope="module")
async def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS)
    client = Redis.from_url(url, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"Redis unreachable at {url} under CI: {exc}")
        pytest.skip(f"Redis unreachable at {url}: {exc}")
    finally:
        await client.aclose()
    return url


@pytest.fixture
def prefix() -> str:
    return f"test-relay-{uuid.uuid4().hex[:10]}"


@dataclass
class Worker:
    """One worker's desk bus and relay, with one console-like subscriber recording events."""

    name: str
    events: DeskEvents
    relay: RedisRelay
    seen: list[DeskEvent] = field(default_factory=list)

    def publish(self, kind: EventKind, conversation_id: int | None = None, **data: object) -> None:
        self.events.publish(DeskEvent(kind, conversation_id, dict(data)))

    def kinds(self) -> list[str]:
        return [event.kind.value for event in self.seen]


@contextlib.asynccontextmanager
async def worker(
    name: str, url: str, prefix: str, *, wait_connected: bool = True
) -> AsyncIterator[Worker]:
    events = DeskEvents()
    relay = RedisRelay(
        url,
        worker_id=name,
        events=events,
        prefix=prefix,
        retry_after_s=0.05,
        max_retry_after_s=0.2,
    )
    result = Worker(name, events, relay)
    running = asyncio.create_task(relay.run())
    async with events.subscribe() as subscription:

        async def record() -> None:
            async for event in subscription:
                result.seen.append(event)

        recording = asyncio.create_task(record())
        try:
            if wait_connected:
                await asyncio.wait_for(relay.connected.wait(), WITHIN)
            yield result
        finally:
            recording.cancel()
            await relay.stop()
            await asyncio.gather(running, recording, return_exceptions=True)
    assert events.relay is None


async def fence(sender: Worker, *receivers: Worker) -> None:
    """Publish a marker on ``sender`` and wait until every receiver has it."""
    marker = uuid.uuid4().hex
    sender.publish(EventKind.PRESENCE, fence=marker)

    def arrived(receiver: Worker) -> bool:
        return any(event.data.get("fence") == marker for event in receiver.seen)

    for receiver in receivers:
        await wait_until(
            lambda: arrived(receiver),  # noqa: B023 (awaited before the loop moves on)
            within=WITHIN,
            what=f"the fence from {sender.name} at {receiver.name}",
        )


def without_fences(events: list[DeskEvent]) -> list[DeskEvent]:
    return [event for event in events if "fence" not in event.data]


async def test_an_event_reaches_each_worker_once(redis_url: str, prefix: str) -> None:
    async with worker("w1", redis_url, prefix) as w1, worker("w2", redis_url, prefix) as w2:
        w1.publish(EventKind.MESSAGE, 7, message={"id": 1, "text": "my order is late"})
        await wait_until(lambda: w1.seen and w2.seen, within=WITHIN, what="the event at both")
        await fence(w2, w1, w2)

        expected = DeskEvent(
            EventKind.MESSAGE, 7, {"message": {"id": 1, "text": "my order is late"}}
        )
        assert without_fences(w1.seen) == [expected]  # its own echo from Redis skipped
        assert without_fences(w2.seen) == [expected]  # offered once, not published again


async def test_one_workers_events_keep_their_order(redis_url: str, prefix: str) -> None:
    async with worker("w1", redis_url, prefix) as w1, worker("w2", redis_url, prefix) as w2:
        for number in range(300):
            w1.publish(EventKind.MESSAGE, number % 5, seq=number)
        await fence(w1, w2)
        await fence(w2, w1)

        assert [e.data["seq"] for e in without_fences(w2.seen)] == list(range(300))
        assert [e.data["seq"] for e in without_fences(w1.seen)] == list(range(300))


async def test_events_beyond_the_queue_become_a_resync(redis_url: str, prefix: str) -> None:
    async with worker("w2", redis_url, prefix) as w2:
        events = DeskEvents()
        relay = RedisRelay(redis_url, worker_id="w1", events=events, prefix=prefix, queue_size=5)
        running = asyncio.create_task(relay.run())
        try:
            await asyncio.wait_for(relay.connected.wait(), WITHIN)
            for number in range(50):  # no await in between: the sender cannot keep up
                events.publish(DeskEvent(EventKind.MESSAGE, 1, {"seq": number}))
            await wait_until(lambda: len(w2.seen) >= 6, within=WITHIN, what="5 events + RESYNC")
        finally:
            await relay.stop()
            await asyncio.gather(running, return_exceptions=True)

        assert [e.data.get("seq") for e in w2.seen] == [0, 1, 2, 3, 4, None]
        assert w2.seen[-1] == DeskEvent(EventKind.RESYNC)


async def test_notices_reach_every_worker_the_sender_included(redis_url: str, prefix: str) -> None:
    async with worker("w1", redis_url, prefix) as w1, worker("w2", redis_url, prefix) as w2:
        heard: list[tuple[str, dict[str, object]]] = []
        for each in (w1, w2):

            async def on_outbox(data: dict[str, object], name: str = each.name) -> None:
                heard.append((name, data))

            each.relay.on_notice("outbox", on_outbox)
        unrelated: list[dict[str, object]] = []

        async def on_other(data: dict[str, object]) -> None:
            unrelated.append(data)

        w2.relay.on_notice("something-else", on_other)

        poke = {"channel": "webchat", "conversation_key": "abc-123"}
        w1.relay.notice("outbox", poke)
        await wait_until(lambda: len(heard) >= 2, within=WITHIN, what="both workers heard it")
        # Once w2's fence has reached w1, w1 has read (and skipped) its own notice's echo.
        await fence(w2, w1)

        assert sorted(heard) == [("w1", poke), ("w2", poke)]
        assert unrelated == []
        assert without_fences(w1.seen) == [] and without_fences(w2.seen) == []


async def test_a_failing_notice_handler_does_not_stop_the_relay(
    redis_url: str, prefix: str
) -> None:
    async with worker("w1", redis_url, prefix) as w1, worker("w2", redis_url, prefix) as w2:

        async def broken(data: dict[str, object]) -> None:
            raise RuntimeError("handler bug")

        w2.relay.on_notice("outbox", broken)
        w1.relay.notice("outbox", {"conversation_key": "x"})
        w1.publish(EventKind.QUEUE)
        await wait_until(
            lambda: EventKind.QUEUE in [e.kind for e in w2.seen], within=WITHIN, what="w2 goes on"
        )
        assert w2.relay.connected.is_set()


async def test_without_redis_local_delivery_goes_on(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    caplog.set_level(logging.WARNING, logger="bot.cluster.relay")
    async with worker("alone", closed, prefix, wait_connected=False) as alone:
        await wait_until(lambda: alone.relay.failures >= 3, within=WITHIN, what="several tries")

        alone.publish(EventKind.CONVERSATION, 3)
        alone.relay.notice("outbox", {"conversation_key": "k"})  # no handler here: a no-op

        await wait_until(lambda: alone.seen, within=WITHIN, what="local delivery")
        assert alone.kinds() == ["conversation"]
        assert not alone.relay.connected.is_set()
        warnings = [r for r in caplog.records if "out of reach" in r.getMessage()]
        assert len(warnings) == 1, "logged once, not on every retry"


class CuttableProxy:
    """A TCP proxy to Redis that the test can cut (Redis gone) and restore (Redis back)."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self._target_port = target_port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


async def test_after_redis_comes_back_every_console_resyncs(redis_url: str, prefix: str) -> None:
    port = Redis.from_url(redis_url).connection_pool.connection_kwargs.get("port", 6379)
    proxy = CuttableProxy(int(port))
    await proxy.restore()
    try:
        async with worker("w1", proxy.url, prefix) as w1, worker("w2", redis_url, prefix) as w2:
            await proxy.cut()  # w1 loses Redis; w2 keeps it
            await wait_until(
                lambda: not w1.relay.connected.is_set(), within=WITHIN, what="w1 sees Redis gone"
            )
            w1.publish(EventKind.MESSAGE, 1, text="while Redis was away")
            await wait_until(lambda: w1.seen, within=WITHIN, what="local delivery")

            await proxy.restore()
            await wait_until(w1.relay.connected.is_set, within=WITHIN, what="w1 reconnected")
            # w1's consoles may have missed w2's events; w2's missed w1's: both reload.
            await wait_until(lambda: "resync" in w2.kinds(), within=WITHIN, what="RESYNC at w2")
            assert w1.kinds() == ["message", "resync"]

            w1.publish(EventKind.MESSAGE, 1, text="after")
            await wait_until(lambda: len(w2.seen) >= 2, within=WITHIN, what="w1's next event")
            await fence(w2, w1)

            # The event published while away is not replayed late: the RESYNC stands for it.
            assert without_fences(w2.seen) == [
                DeskEvent(EventKind.RESYNC),
                DeskEvent(EventKind.MESSAGE, 1, {"text": "after"}),
            ]
            assert [e.kind for e in without_fences(w1.seen)] == [
                EventKind.MESSAGE,
                EventKind.RESYNC,
                EventKind.MESSAGE,
            ]
    finally:
        await proxy.cut()


async def test_workers_in_two_processes_hear_each_other(redis_url: str, prefix: str) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.relay_worker",
        redis_url,
        prefix,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        line = await asyncio.wait_for(child.stdout.readline(), 60)
        assert line.strip() == b"ready", line
        async with worker("parent", redis_url, prefix) as parent:
            parent.publish(EventKind.MESSAGE, 42, ping="hello")
            await wait_until(
                lambda: any("pong" in e.data for e in parent.seen),
                within=WITHIN,
                what="the other process's answer",
            )
            pong = next(e for e in parent.seen if "pong" in e.data)
            assert pong.conversation_id == 42 and pong.data["pong"] == "hello"
            assert pong.data["pid"] == child.pid != os.getpid()

            parent.relay.notice("outbox", {"channel": "webchat", "conversation_key": "c1"})
            await wait_until(
                lambda: "queue" in parent.kinds(), within=WITHIN, what="the notice answered"
            )
            answered = next(e for e in parent.seen if e.kind == EventKind.QUEUE)
            assert answered.data == {"notice": {"channel": "webchat", "conversation_key": "c1"}}
    finally:
        child.stdin.close()
        code = await asyncio.wait_for(child.wait(), 30)
    assert code == 0
