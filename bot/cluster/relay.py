"""The desk's live events and small notices between bot workers, over Redis pub/sub.

An agent's console holds a socket to one worker; the customer's message may arrive at
another. :class:`RedisRelay` hooks into this worker's :class:`~bot.events.DeskEvents`:

- an event published here reaches this worker's subscribers at once (``DeskEvents``
  does that, relay or not) and is queued for Redis; one sender task publishes the
  queue in order, so the events of one worker arrive everywhere in the order they were
  published. ``publish`` never waits on Redis;
- an event from another worker is offered to this worker's subscribers only
  (``deliver_local``): never published again, and this worker's own events, which
  come back from Redis too, are skipped (each relay instance has its own origin
  token, so two workers given the same ``worker_id`` by mistake still hear each other).

Redis pub/sub delivers at most once: a worker that is not subscribed at that moment
misses the message for good. So while Redis is out of reach, local delivery goes on,
events for the other workers are dropped (not piled up), the outage is logged once, and
when the connection is back the relay offers ``RESYNC`` to this worker's subscribers
and publishes one ``RESYNC`` to the other workers: on both sides a console reloads from
the database, the source of truth, what the events would have told it.

Notices (:meth:`RedisRelay.notice`) are small JSON messages by topic, for asking
"whoever holds X, do Y" (the web chat's outbox: flush a conversation on the worker
holding its socket). Every worker's handlers run, **the sender's included**, and the
sender's run locally at once, Redis or not; other workers' run when the notice arrives.
They are at most once too: a handler must be an optimisation that a periodic job backs
up (the outbox retry), never the only path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from bot.events import DeskEvent, DeskEvents, EventKind

log = logging.getLogger(__name__)

NoticeHandler = Callable[[dict[str, Any]], Awaitable[None]]

QUEUE_SIZE = 10_000  # events waiting for Redis; beyond it they are dropped (RESYNC follows)
CONNECT_TIMEOUT_S = 3.0
HEALTH_CHECK_S = 10.0  # ping an idle pub/sub connection, so a dead one is noticed
RETRY_AFTER_S = 0.5  # first reconnect delay; it doubles up to MAX_RETRY_AFTER_S
MAX_RETRY_AFTER_S = 5.0
POLL_S = 1.0  # how long one read of the subscription waits
BATCH = 500  # queued messages sent in one round trip at most


class RedisRelay:
    """Relay ``events`` to and from the other workers on ``url``'s Redis.

    Construct it, run :meth:`run` as a long-running job, call :meth:`stop` at the end.
    Events published before the first connection wait in the queue and go out with it.
    """

    def __init__(
        self,
        url: str,
        *,
        worker_id: str,
        events: DeskEvents,
        prefix: str = "helpdesk",
        retry_after_s: float = RETRY_AFTER_S,
        max_retry_after_s: float = MAX_RETRY_AFTER_S,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self.worker_id = worker_id
        self.events_channel = f"{prefix}:desk-events"
        self.notices_channel = f"{prefix}:notices"
        self._url = url
        self._events = events
        self._origin = f"{worker_id}/{uuid.uuid4().hex[:12]}"
        self._retry_after_s = retry_after_s
        self._max_retry_after_s = max_retry_after_s
        self._outgoing: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(queue_size)
        self._handlers: dict[str, list[NoticeHandler]] = {}
        self._handling: set[asyncio.Task[None]] = set()
        self._run_task: asyncio.Task[None] | None = None
        self._down = False  # Redis is out of reach: drop outgoing messages
        self._missed_remote = False  # this worker may have missed other workers' events
        self._dropped_local = False  # the other workers may have missed this worker's events
        self._came_up_once = False  # the current attempt got as far as subscribing
        self.connected = asyncio.Event()
        """Set while subscribed (tests and health checks wait on it)."""
        self.failures = 0
        """Connection attempts that failed and connections that dropped, since start."""
        events.relay = self

    # --- what the rest of the worker calls ----------------------------------------------

    def forward(self, event: DeskEvent) -> None:
        """Queue one of this worker's events for the others (``DeskEvents.publish`` calls it)."""
        message = {"kind": event.kind.value, "conversation_id": event.conversation_id}
        self._queue(self.events_channel, {**message, "data": event.data})

    def notice(self, topic: str, data: dict[str, Any]) -> None:
        """Tell every worker, this one included, ``data`` under ``topic``; never blocks.

        This worker's handlers start at once; the others' when Redis delivers it (at most
        once: lost while Redis is out of reach).
        """
        self._dispatch(topic, data)
        self._queue(self.notices_channel, {"topic": topic, "data": data})

    def on_notice(self, topic: str, handler: NoticeHandler) -> None:
        """Run ``handler(data)`` for every notice on ``topic``, from any worker."""
        self._handlers.setdefault(topic, []).append(handler)

    async def run(self) -> None:
        """Subscribe and relay until cancelled; reconnect (with backoff) when Redis fails."""
        self._run_task = asyncio.current_task()
        delay = self._retry_after_s
        try:
            while True:
                self._came_up_once = False
                try:
                    await self._session()
                except (RedisError, OSError) as error:
                    self._went_down(error)
                else:  # a session only ends by raising; be safe all the same
                    self._went_down(None)
                if self._came_up_once:  # it was a drop, not a failed attempt: retry soon
                    delay = self._retry_after_s
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_retry_after_s)
        finally:
            # Stopped, or ended by a bug (the supervisor starts it again): until then
            # nothing is relayed, so the next start resyncs both ways.
            self.connected.clear()
            self._down = self._missed_remote = self._dropped_local = True
            self._run_task = None

    async def stop(self) -> None:
        """Stop relaying: end :meth:`run` if it still runs, cancel notice handlers."""
        if self._events.relay is self:
            self._events.relay = None
        task = self._run_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for handling in list(self._handling):
            handling.cancel()
        await asyncio.gather(*self._handling, return_exceptions=True)

    # --- the connection ----------------------------------------------------------------

    async def _session(self) -> None:
        redis = Redis.from_url(
            self._url,
            decode_responses=True,
            client_name=f"helpdesk-relay:{self.worker_id}",
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_keepalive=True,
            health_check_interval=HEALTH_CHECK_S,
        )
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.events_channel, self.notices_channel)
            self._came_up()
            sender = asyncio.create_task(self._send(redis))
            receiver = asyncio.create_task(self._receive(pubsub))
            try:
                done, _ = await asyncio.wait(
                    {sender, receiver}, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for task in (sender, receiver):
                    task.cancel()
                await asyncio.gather(sender, receiver, return_exceptions=True)
            for task in done:
                task.result()  # raises what ended it
        finally:
            self.connected.clear()
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()
            with contextlib.suppress(RedisError, OSError):
                await redis.aclose()

    def _came_up(self) -> None:
        self._down = False
        self._came_up_once = True
        if self._missed_remote:
            log.info("desk relay: Redis is back; consoles reload (%s)", self.worker_id)
            self._missed_remote = False
            self._events.deliver_local(DeskEvent(EventKind.RESYNC))
        if self._dropped_local:
            # What waits was published while Redis was away; the others reload instead.
            while not self._outgoing.empty():
                self._outgoing.get_nowait()
        self.connected.set()

    def _went_down(self, error: BaseException | None) -> None:
        self.connected.clear()
        self.failures += 1
        if not self._down:
            log.warning(
                "desk relay: Redis at %s is out of reach (%s); live events stay on this worker",
                _without_password(self._url),
                error or "connection ended",
            )
        self._down = self._missed_remote = self._dropped_local = True

    # --- out ---------------------------------------------------------------------------

    def _queue(self, channel: str, message: dict[str, Any]) -> None:
        if self._down:
            self._dropped_local = True
            return
        try:
            self._outgoing.put_nowait((channel, message))
        except asyncio.QueueFull:
            self._dropped_local = True

    async def _send(self, redis: Redis) -> None:
        while True:
            if self._dropped_local and self._outgoing.empty():
                self._dropped_local = False
                self._outgoing.put_nowait((self.events_channel, {"kind": EventKind.RESYNC.value}))
            # What piled up while the last batch was on the wire goes in one round trip,
            # in order (one connection, one pipeline).
            batch = [await self._outgoing.get()]
            while len(batch) < BATCH and not self._outgoing.empty():
                batch.append(self._outgoing.get_nowait())
            pipeline = redis.pipeline(transaction=False)
            for channel, message in batch:
                payload = self._payload(message)
                if payload is not None:
                    pipeline.publish(channel, payload)
            await pipeline.execute()

    def _payload(self, message: dict[str, Any]) -> str | None:
        try:
            return json.dumps({"origin": self._origin, "worker": self.worker_id, **message})
        except (TypeError, ValueError):
            log.exception("desk relay: cannot send %s", message.get("kind") or message.get("topic"))
            return None

    # --- in ----------------------------------------------------------------------------

    async def _receive(self, pubsub: PubSub) -> None:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_S)
            if message is None or message.get("type") != "message":
                continue
            try:
                body = json.loads(message["data"])
            except (TypeError, ValueError):
                log.warning("desk relay: a message that is not JSON on %s", message["channel"])
                continue
            if not isinstance(body, dict) or body.get("origin") == self._origin:
                continue
            if message["channel"] == self.events_channel:
                self._deliver(body)
            else:
                topic, data = body.get("topic"), body.get("data")
                if isinstance(topic, str) and isinstance(data, dict):
                    self._dispatch(topic, data)

    def _deliver(self, body: dict[str, Any]) -> None:
        try:
            kind = EventKind(str(body.get("kind")))
        except ValueError:  # a newer worker's kind, mid rolling deploy
            log.debug("desk relay: unknown event kind %r", body.get("kind"))
            return
        conversation_id = body.get("conversation_id")
        data = body.get("data")
        self._events.deliver_local(
            DeskEvent(
                kind,
                conversation_id if isinstance(conversation_id, int) else None,
                data if isinstance(data, dict) else {},
            )
        )

    def _dispatch(self, topic: str, data: dict[str, Any]) -> None:
        for handler in self._handlers.get(topic, ()):
            task = asyncio.get_running_loop().create_task(self._handle(topic, handler, data))
            self._handling.add(task)
            task.add_done_callback(self._handling.discard)

    async def _handle(self, topic: str, handler: NoticeHandler, data: dict[str, Any]) -> None:
        try:
            await handler(data)
        except Exception:  # one failed handler must not end the relay
            log.exception("desk relay: a %r notice handler failed", topic)


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
