"""The Slack channel: a thin shell holding a slack-bolt ``AsyncApp``.

Customers write to the app in a direct message (``message.im``) or mention it in a
channel (``app_mention``; the reply goes to the thread). Events arrive over HTTP
(``channels.slack.events_path`` on the one ASGI app, verified by bolt against the
signing secret) or over Socket Mode (``SLACK_APP_TOKEN``). Either way a listener
hands the message to the engine and returns — and so acknowledges it — as soon as
the message is committed, never waiting for the NLU or the reply. The converters
live in :mod:`bot.channels.slack.events` (in) and :mod:`bot.channels.slack.format` (out).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, Generic, TypeVar

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import (
    to_async_bolt_request,
    to_starlette_response,
)
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.channels import (
    MAX_TEXT_CHARS,
    Bounded,
    ChannelSendError,
    OnMessage,
    bounded,
    too_long_notice,
)
from bot.channels.slack.errors import TOKEN_REFUSALS, send_error
from bot.channels.slack.events import (
    CHANNEL,
    action_to_inbound,
    message_id,
    parse_key,
    to_inbound,
    with_offered_choice,
)
from bot.channels.slack.format import ACTION_PREFIX, to_platform, with_choice
from bot.channels.slack.shape import shape_problem
from bot.channels.slack.signature import signed
from bot.channels.slack.users import SlackDirectory
from bot.i18n import Catalogue
from bot.messages import Button, InboundMessage, OutboundMessage
from bot.settings import SlackSettings

log = logging.getLogger(__name__)

K = TypeVar("K")
V = TypeVar("V")

ACK_BUDGET_S = 2.0
"""How long a listener waits for the message to be committed before acknowledging
anyway; Slack retries what is not acknowledged within 3 s."""
MAX_BODY = 1 << 20
RATE_LIMIT_RETRIES = 3
STOP_GRACE_S = 5.0


class _Recent(Generic[K, V]):
    """A small LRU map: per-process memory that must not grow without bound."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self._size:
            self._items.popitem(last=False)

    def pop(self, key: K) -> None:
        self._items.pop(key, None)


class SlackChannel:
    """Holds the bolt app, its Web API client and (in Socket Mode) the socket handler."""

    name = CHANNEL

    def __init__(
        self,
        settings: SlackSettings,
        *,
        bot_token: str,
        signing_secret: str,
        app_token: str | None = None,
        max_text_chars: int = MAX_TEXT_CHARS,
        catalogue: Catalogue | None = None,
    ) -> None:
        if settings.mode == "socket" and not app_token:
            raise ValueError("Slack Socket Mode needs an app-level token (SLACK_APP_TOKEN)")
        self.settings = settings
        self.max_text_chars = max_text_chars
        self._catalogue = catalogue or Catalogue.load()
        self._signing_secret = signing_secret.encode()
        self.client = AsyncWebClient(
            token=bot_token,
            base_url=settings.base_url,
            retry_handlers=[
                AsyncConnectionErrorRetryHandler(),
                # Sleeps for Retry-After (plus < 1 s jitter), then tries again.
                AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
            ],
        )
        self.app = AsyncApp(
            client=self.client,
            signing_secret=signing_secret,
            # The listener itself decides when to return (once the message is stored).
            process_before_response=True,
            logger=log,
        )
        self.app.event("message")(self._on_event)
        self.app.event("app_mention")(self._on_event)
        self.app.action(re.compile(rf"^{ACTION_PREFIX}\d+$"))(self._on_action)
        self.users = SlackDirectory(self.client)
        self.bot_user_id: str | None = None
        self.off = False
        """Set when Slack rejected the bot token at start: nothing is received or sent."""
        self._app_token = app_token
        self._socket: AsyncSocketModeHandler | None = None
        self._on_message: OnMessage | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # Per-process memory: what was offered (numbered replies), which button messages
        # were answered (double clicks), how far a split reply got before failing.
        self._offered: _Recent[str, tuple[Button, ...]] = _Recent(5000)
        self._chosen: _Recent[str, bool] = _Recent(5000)
        self._partial: _Recent[str, int] = _Recent(1000)
        # Channels whose messages are not customers' (the Slack agent desk's channel).
        self._routed: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {}

    # --- lifecycle -------------------------------------------------------------------

    async def start(self, on_message: OnMessage) -> None:
        self._on_message = on_message
        # One connection pool for every Web API call (bolt's per-request clients share it).
        self.client.session = aiohttp.ClientSession()
        try:
            auth = await self.client.auth_test()
        except SlackApiError as exc:
            error = exc.response.get("error")
            if error in TOKEN_REFUSALS:
                # Like a missing token: the rest of the helpdesk (web chat, ...) runs on.
                log.error("Slack rejected SLACK_BOT_TOKEN (%s); the Slack channel is off", error)
                self.off = True
                return
            log.warning("Slack auth.test failed at start-up (%s); going on", error)
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Slack down must not stop the bot; bolt signs in again on the first event.
            log.warning("Slack unreachable at start-up (%s); going on", exc)
        else:
            self.bot_user_id = auth.get("user_id")
            log.info("Slack: signed in as %s on %s", auth.get("user"), auth.get("team"))
        if self.settings.mode == "socket":
            assert self._app_token is not None
            self._socket = AsyncSocketModeHandler(self.app, self._app_token)
            # Connecting (and reconnecting) is the SDK's job; startup does not wait on it.
            self._spawn(
                self._socket.connect_async(),  # type: ignore[no-untyped-call]  # untyped in bolt
                "slack-socket-connect",
            )

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=STOP_GRACE_S)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self.client.session is not None:
            await self.client.session.close()
            self.client.session = None

    def routes(self) -> list[BaseRoute]:
        """The Events API / interactivity endpoint (HTTP mode only)."""
        if self.settings.mode != "http":
            return []
        return [Route(self.settings.events_path, self._http, methods=["POST"])]

    async def _http(self, request: Request) -> Response:
        if self.off:
            return PlainTextResponse("the Slack channel is off", status_code=503)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return PlainTextResponse("payload too large", status_code=413)
        # Checked before anything is parsed (bolt parses first; see slack.signature).
        if not signed(self._signing_secret, request.headers, body):
            return PlainTextResponse("invalid signature or timestamp", status_code=401)
        try:
            bolt_request = to_async_bolt_request(request, body)
        except Exception as exc:
            # bolt parses the body and reads its ids in the constructor, trusting the
            # shape: not UTF-8, not JSON, not an object, "authorizations": {} (KeyError).
            log.info("Slack body refused: %s: %s", type(exc).__name__, exc)
            return PlainTextResponse("not a Slack event or action", status_code=400)
        problem = shape_problem(bolt_request.body)
        if problem is not None:
            return PlainTextResponse(f"not a Slack event or action: {problem}", status_code=400)
        response = await self.app.async_dispatch(bolt_request)
        return to_starlette_response(response)

    # --- inbound ---------------------------------------------------------------------

    def route_channel(
        self, channel_id: str, handler: Callable[[dict[str, Any]], Awaitable[None]]
    ) -> None:
        """Give every event from ``channel_id`` to ``handler`` instead of the engine.

        For the Slack agent desk (:mod:`bot.desk.slack`): agents in their channel are not
        customers. The handler must return quickly; returning acknowledges the event.
        """
        self._routed[channel_id] = handler

    async def _on_event(self, event: dict[str, Any], context: AsyncBoltContext) -> None:
        routed = self._routed.get(str(event.get("channel")))
        if routed is not None:
            await routed(event)
            return
        bot_user = context.bot_user_id or self.bot_user_id
        inbound = to_inbound(event, bot_user_id=bot_user)
        if inbound is None:
            return
        # Offered buttons answer only the very next message of the conversation.
        offered = self._offered.get(inbound.conversation_key) or ()
        self._offered.pop(inbound.conversation_key)
        inbound = with_offered_choice(inbound, offered)
        deadline = asyncio.get_running_loop().time() + ACK_BUDGET_S
        await self._hand_over(await self._with_profile(inbound), deadline)

    async def _on_action(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        inbound = action_to_inbound(body)
        if inbound is None or self._chosen.get(inbound.message_id):
            await ack()  # not ours, or a second press on a message already answered
            return
        self._chosen.put(inbound.message_id, True)
        self._offered.pop(inbound.conversation_key)
        try:
            deadline = asyncio.get_running_loop().time() + ACK_BUDGET_S
            await self._hand_over(await self._with_profile(inbound), deadline)
        except Exception:
            self._chosen.pop(inbound.message_id)
            raise
        await ack()
        self._spawn(self._show_choice(body, inbound), "slack-show-choice")

    async def _with_profile(self, inbound: InboundMessage) -> InboundMessage:
        profile = await self.users.profile(inbound.user_id)
        if profile is None:
            return inbound
        return replace(
            inbound, user_name=profile.name or inbound.user_name, language_hint=profile.locale
        )

    async def _hand_over(self, inbound: InboundMessage, deadline: float) -> None:
        """Start the engine on the message; return once it is committed (or the budget ends).

        The message is bounded first (:func:`bot.channels.bounded`): over-long text is cut
        and the customer told, one no real Slack sends is dropped. Raising here makes bolt
        answer 500 (HTTP) or skip the ack (Socket Mode), so Slack delivers the event
        again: a message that could not be stored is not acknowledged.
        """
        fitted = bounded(inbound, max_text_chars=self.max_text_chars)
        if fitted is None:
            log.warning("Slack message %.200r ignored: ids too long", inbound.message_id)
            return
        inbound = fitted.inbound
        stored = asyncio.Event()
        task = self._spawn(self._receive(fitted, stored), f"slack-{inbound.message_id}")
        waiter = asyncio.ensure_future(stored.wait())
        done, _ = await asyncio.wait(
            {task, waiter},
            timeout=max(0.0, deadline - asyncio.get_running_loop().time()),
            return_when="FIRST_COMPLETED",
        )
        waiter.cancel()
        if stored.is_set():
            return
        if task in done:
            task.result()  # failed before the message was stored: re-raise, no ack
            return
        log.warning(
            "Slack message %s not stored within %.1f s; acknowledging anyway",
            inbound.message_id,
            ACK_BUDGET_S,
        )

    async def _receive(self, fitted: Bounded, stored: asyncio.Event) -> None:
        assert self._on_message is not None, "channel not started"

        async def mark_stored() -> None:
            stored.set()
            if fitted.original_chars is not None:
                self._spawn(self._tell_cut(fitted), "slack-too-long")

        await self._on_message(fitted.inbound, on_stored=mark_stored)

    async def _tell_cut(self, fitted: Bounded) -> None:
        """The customer hears that only the beginning of a long message was kept."""
        channel, thread_ts = parse_key(fitted.inbound.conversation_key)
        text = too_long_notice(self._catalogue, fitted, max_text_chars=self.max_text_chars)
        try:
            await self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)
        except SlackApiError as exc:
            log.warning("could not say a message was cut: %s", exc.response.get("error"))

    async def _show_choice(self, body: dict[str, Any], inbound: InboundMessage) -> None:
        message = body.get("message") or {}
        channel, ts = inbound.message_id.split(":")[:2]
        try:
            await self.client.chat_update(
                channel=channel,
                ts=ts,
                text=message.get("text") or inbound.text,
                blocks=with_choice(
                    message.get("blocks") or [], title=inbound.text, user_id=inbound.user_id
                ),
            )
        except SlackApiError as exc:
            log.warning(
                "could not mark the choice on %s/%s: %s", channel, ts, exc.response.get("error")
            )

    def _spawn(self, work: Awaitable[None], name: str) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Slack task %s failed", task.get_name(), exc_info=task.exception())

    # --- outbound --------------------------------------------------------------------

    async def send(self, conversation_key: str, message: OutboundMessage) -> str | None:
        """Post a reply (split if long) to the DM or thread; returns ``<channel>:<ts>``."""
        if self.off:
            raise ChannelSendError("the Slack channel is off: Slack rejected SLACK_BOT_TOKEN")
        channel, thread_ts = parse_key(conversation_key)
        posts = to_platform(message)
        # A split reply that failed half-way resumes where it stopped when the outbox retries.
        progress_key = f"{conversation_key}|{hashlib.sha256(message.text.encode()).hexdigest()}"
        first = self._partial.get(progress_key) or 0
        ts: str | None = None
        for index in range(first, len(posts)):
            try:
                response = await self.client.chat_postMessage(
                    channel=channel, thread_ts=thread_ts, **posts[index]
                )
            except SlackApiError as exc:
                if index > 0:
                    self._partial.put(progress_key, index)
                raise send_error(exc, conversation_key) from exc
            ts = response.get("ts")
        self._partial.pop(progress_key)
        if message.buttons:
            self._offered.put(conversation_key, message.buttons)
        return message_id(channel, ts) if ts else None
