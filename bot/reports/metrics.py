"""Prometheus metrics, served at ``/metrics``.

The bot is measured from the outside of its parts, so no business code imports this
module: the channels' message callback is wrapped (messages, turn latency), the NLU
client is wrapped (parse latency, what it decided), a logging handler counts errors,
and the queue length is read from the database when Prometheus scrapes.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.channels import OnMessage, OnStored
from bot.commands import parse_helpful
from bot.messages import InboundMessage, OutboundMessage
from bot.nlu.client import NluClient, NluError, ParseResult
from bot.nlu.decision import Thresholds, unsure_reason
from bot.storage.database import Database
from bot.storage.models import Conversation, ConversationState

# One registry for the bot's own metrics: no accidental clash with a library's.
REGISTRY = CollectorRegistry()

MESSAGES = Counter(
    "helpdesk_messages_total",
    "Customer messages received and bot replies sent, by channel.",
    ["channel", "direction"],
    registry=REGISTRY,
)
TURN_SECONDS = Histogram(
    "helpdesk_turn_seconds",
    "Time from receiving a customer message to its replies being sent (or queued).",
    ["channel"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
NLU_SECONDS = Histogram(
    "helpdesk_nlu_parse_seconds",
    "Latency of one NLU parse (Rasa over HTTP).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
NLU_DECISIONS = Counter(
    "helpdesk_nlu_decisions_total",
    "What the NLU made of a message: faq, intent, out_of_scope, low_confidence or error.",
    ["decision"],
    registry=REGISTRY,
)
QUEUE_LENGTH = Gauge(
    "helpdesk_queue_length",
    "Conversations waiting for a human agent (read at scrape time).",
    registry=REGISTRY,
)
ERRORS = Counter(
    "helpdesk_errors_total",
    "Errors logged by the bot, by logger.",
    ["logger"],
    registry=REGISTRY,
)
KB_RELOADS = Counter(
    "helpdesk_kb_reloads_total",
    "Knowledge-base reloads after an edit, by result (ok or rejected).",
    ["result"],
    registry=REGISTRY,
)
MODEL_SWAPS = Counter(
    "helpdesk_model_swaps_total",
    "NLU models retrained and hot-swapped after question edits.",
    registry=REGISTRY,
)
FAQ_VOTES = Counter(
    "helpdesk_faq_votes_total",
    '"Was this helpful?" button presses, by answer.',
    ["vote"],
    registry=REGISTRY,
)

FAILED_TURNS = Counter(
    "helpdesk_failed_turns_total",
    "Customer messages whose turn crashed: marked failed with the error, not retried.",
    ["channel"],
    registry=REGISTRY,
)


class FailedTurnCounter:
    """The engine's failed turns, on ``/metrics`` (``Engine(failures=...)``)."""

    def failed(self, channel: str) -> None:
        FAILED_TURNS.labels(channel).inc()


class KbWatchCounters:
    """The knowledge-base watcher's counts, on ``/metrics`` (its ``counters``)."""

    def reloaded(self, *, ok: bool) -> None:
        KB_RELOADS.labels("ok" if ok else "rejected").inc()

    def swapped(self) -> None:
        MODEL_SWAPS.inc()


Receive = Callable[..., Awaitable[list[OutboundMessage]]]


def metered_receive(receive: Receive) -> OnMessage:
    """Wrap the engine's ``receive`` (what channels call) to count and time every turn."""

    async def wrapped(
        inbound: InboundMessage, *, on_stored: OnStored | None = None
    ) -> list[OutboundMessage]:
        started = time.perf_counter()
        MESSAGES.labels(inbound.channel, "in").inc()
        vote = parse_helpful(inbound.payload)
        if vote is not None:
            FAQ_VOTES.labels("yes" if vote.helpful else "no").inc()
        replies = await receive(inbound, on_stored=on_stored)
        TURN_SECONDS.labels(inbound.channel).observe(time.perf_counter() - started)
        if replies:
            MESSAGES.labels(inbound.channel, "out").inc(len(replies))
        return replies

    return wrapped


class MeteredNlu:
    """An :class:`~bot.nlu.client.NluClient` that times each parse and counts its decision."""

    def __init__(self, inner: NluClient, *, thresholds: Thresholds) -> None:
        self.inner = inner
        self.thresholds = thresholds

    async def parse(self, text: str) -> ParseResult:
        started = time.perf_counter()
        try:
            result = await self.inner.parse(text)
        except NluError:
            NLU_DECISIONS.labels("error").inc()
            raise
        finally:
            NLU_SECONDS.observe(time.perf_counter() - started)
        NLU_DECISIONS.labels(self._decision(result)).inc()
        return result

    def _decision(self, result: ParseResult) -> str:
        # The engine's rule (bot/nlu/decision.py); whether an FAQ still exists is the
        # knowledge base's business, not the model's, so it is not judged here.
        reason = unsure_reason(result, self.thresholds, known_faq=lambda _: True)
        if reason in ("no_intent", "out_of_scope"):
            return "out_of_scope"
        if reason is not None:
            return "low_confidence"  # also not confident enough: ambiguous or unfamiliar
        return "faq" if result.faq_id is not None else "intent"

    async def ready(self) -> bool:
        return await self.inner.ready()

    async def close(self) -> None:
        await self.inner.close()

    async def load_model(self, model_path: str) -> None:
        """Pass hot swaps through to the wrapped client (``RasaClient.load_model``)."""
        load = getattr(self.inner, "load_model", None)
        if load is None:
            raise NluError("this NLU client cannot load models")
        await load(model_path)


class ErrorCounter(logging.Handler):
    """Counts ERROR (and worse) log records by logger: errors without a log scraper."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)

    def emit(self, record: logging.LogRecord) -> None:
        ERRORS.labels(record.name).inc()


def install_error_counter() -> ErrorCounter:
    """Attach the counter to the ``bot`` logger once (idempotent)."""
    logger = logging.getLogger("bot")
    for handler in logger.handlers:
        if isinstance(handler, ErrorCounter):
            return handler
    handler = ErrorCounter()
    logger.addHandler(handler)
    return handler


LOOPBACK = ("127.0.0.0/8", "::1/128")


def metrics_route(
    db: Database,
    *,
    path: str = "/metrics",
    token: str | None = None,
    networks: Sequence[str] = LOOPBACK,
) -> Route:
    """``GET /metrics`` in Prometheus' text format; refreshes the queue length first.

    Served to clients in ``networks`` (``admin.metrics_networks``, loopback by default),
    and to any client sending ``Authorization: Bearer <token>`` when ``token`` is set
    (``METRICS_TOKEN``). Anyone else gets 401 (a token is set) or 403.
    """
    allowed = [ipaddress.ip_network(network, strict=False) for network in networks]
    expected = token.encode() if token else None

    def admitted(request: Request) -> bool:
        if expected is not None:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            given_bytes = given.strip().encode("latin-1", "replace")
            if scheme.lower() == "bearer" and hmac.compare_digest(given_bytes, expected):
                return True
        host = request.client.host if request.client else ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in allowed)

    async def endpoint(request: Request) -> Response:
        if not admitted(request):
            if expected is not None:
                headers = {"WWW-Authenticate": "Bearer"}
                return PlainTextResponse("a metrics token is needed", 401, headers=headers)
            return PlainTextResponse("metrics are not served to this address", 403)
        async with db.transaction() as session:
            queued = await session.scalar(
                select(func.count(Conversation.id)).where(
                    Conversation.state == ConversationState.QUEUED
                )
            )
        QUEUE_LENGTH.set(int(queued or 0))
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return Route(path, endpoint, methods=["GET"])
