"""A fake Slack for tests: Web API and Socket Mode on 127.0.0.1, for the real SDK clients.

Point slack-sdk / slack-bolt at ``fake.base_url`` and they talk to it as to Slack:

    async with FakeSlack() as slack:
        slack.add_user("U1", "alice", locale="gu-IN")
        ... start the app with base_url=slack.base_url, slack.bot_token, slack.signing_secret
        await slack.post_event(events_url, slack.dm("U1", "hello"))     # signed, like Slack
        [call] = await slack.wait_for("chat.postMessage")
        call.args["channel"], call.args["text"], call.args["blocks"]

Web API methods: ``auth.test``, ``chat.postMessage``, ``chat.update``,
``chat.postEphemeral``, ``users.info``, ``apps.connections.open``; others answer
``unknown_method`` unless given a handler with :meth:`FakeSlack.on`. Every call is
recorded (:meth:`calls`, :meth:`wait_for`, :meth:`subscribe`). Knobs: :meth:`fail`
(``channel_not_found`` and friends), :meth:`rate_limit` (429 with ``Retry-After``),
:meth:`hold` (keep a method's answers back until released). Messages are checked against
Slack's limits (``msg_too_long``, ``invalid_blocks``); :attr:`messages` holds what was
posted, as updated.

Events: :meth:`dm`, :meth:`mention`, :meth:`channel_message` and :meth:`press` build the
payloads Slack sends; :meth:`post` / :meth:`post_event` POST them signed with the
signing secret (or tampered, stale, as retries).

Socket Mode: ``apps.connections.open`` (with the app token) hands out ``ws://…/socket``;
:meth:`push` sends an envelope down the socket and :meth:`acked` waits for its ack.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from aiohttp import WSMsgType, web

Handler = Callable[[dict[str, Any]], dict[str, Any] | Awaitable[dict[str, Any]]]

TEXT_LIMIT = 40_000
SECTION_LIMIT = 3000
BUTTON_TEXT_LIMIT = 75
BLOCKS_LIMIT = 50
ELEMENTS_LIMIT = 25


@dataclass(frozen=True)
class SlackCall:
    """One Web API call as the fake received it."""

    method: str
    args: dict[str, Any]
    token: str | None
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Fault:
    error: str
    status: int
    headers: dict[str, str]
    times: int | None
    when: Callable[[dict[str, Any]], bool] | None


class FakeSlack:
    """A fake Slack workspace with one app installed; an async context manager."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-fake-bot-token",
        app_token: str = "xapp-fake-app-token",
        signing_secret: str = "fake-signing-secret",
        team_id: str = "T0FAKE",
        app_id: str = "A0FAKE",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.app_id = app_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.url = ""
        self.users: dict[str, dict[str, Any]] = {}
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        """What the bot posted, by ``(channel, ts)``, as updated by ``chat.update``."""
        self.acks: list[dict[str, Any]] = []
        self.socket_connections = 0
        self._calls: list[SlackCall] = []
        self._changed = asyncio.Condition()
        self._faults: dict[str, list[_Fault]] = {}
        self._gates: dict[str, asyncio.Event] = {}
        self._subscribers: dict[str, list[asyncio.Queue[SlackCall]]] = {}
        self._handlers: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "users.info": self._users_info,
            "chat.postEphemeral": self._post_ephemeral,
        }
        self._ts = itertools.count(1)
        self._socket: web.WebSocketResponse | None = None
        self._pending_acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._runner: web.AppRunner | None = None
        self._http: httpx.AsyncClient | None = None

    # --- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/socket", self._socket_endpoint)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self._http = httpx.AsyncClient(timeout=10)
        return self

    async def __aexit__(self, *_: object) -> None:
        for gate in self._gates.values():
            gate.set()
        if self._socket is not None:
            await self._socket.close()
        if self._http is not None:
            await self._http.aclose()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        """The Web API root to give the SDK (``AsyncWebClient(base_url=...)``)."""
        return f"{self.url}/api/"

    # --- the record ------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[SlackCall]:
        """Every call so far (of ``method``), in the order they arrived."""
        return [c for c in self._calls if method is None or c.method == method]

    async def wait_for(
        self,
        method: str,
        count: int = 1,
        *,
        within: float = 10.0,
        where: Callable[[SlackCall], bool] | None = None,
    ) -> list[SlackCall]:
        """Wait until at least ``count`` calls of ``method`` (matching ``where``) arrived."""

        def matching() -> list[SlackCall]:
            return [c for c in self.calls(method) if where is None or where(c)]

        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: len(matching()) >= count)
        return matching()

    def subscribe(self, method: str) -> asyncio.Queue[SlackCall]:
        """Every later call of ``method`` is also put on the returned queue, as it arrives."""
        queue: asyncio.Queue[SlackCall] = asyncio.Queue()
        self._subscribers.setdefault(method, []).append(queue)
        return queue

    def posted(self, channel: str | None = None) -> list[dict[str, Any]]:
        """The messages the bot posted (current state, after any ``chat.update``)."""
        return [m for (ch, _), m in self.messages.items() if channel is None or ch == channel]

    # --- knobs -----------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        real_name: str | None = None,
        display_name: str | None = None,
        locale: str = "en-US",
        is_bot: bool = False,
    ) -> dict[str, Any]:
        user = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "real_name": real_name or name.title(),
            "is_bot": is_bot,
            "deleted": False,
            "locale": locale,
            "profile": {
                "display_name": display_name if display_name is not None else name.title(),
                "real_name": real_name or name.title(),
            },
        }
        self.users[user_id] = user
        return user

    def fail(
        self,
        method: str,
        error: str,
        *,
        times: int | None = 1,
        status: int = 200,
        headers: dict[str, str] | None = None,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        """The next ``times`` calls of ``method`` (``None``: all; ``when``: matching args) fail."""
        fault = _Fault(error, status, headers or {}, times, when)
        self._faults.setdefault(method, []).append(fault)

    def rate_limit(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        """The next ``times`` calls get ``429`` with ``Retry-After: retry_after``."""
        self.fail(
            method,
            "ratelimited",
            times=times,
            status=429,
            headers={"Retry-After": str(retry_after)},
        )

    def hold(self, method: str) -> asyncio.Event:
        """Calls of ``method`` are recorded but not answered until the returned event is set."""
        gate = self._gates[method] = asyncio.Event()
        return gate

    def on(self, method: str, handler: Handler) -> None:
        """Answer ``method`` with ``handler(args)`` (a dict without ``ok``, sync or async)."""
        self._handlers[method] = handler

    # --- the Web API -----------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _arguments(request)
        token = _bearer(request) or args.pop("token", None)
        call = SlackCall(method, args, token)
        async with self._changed:
            self._calls.append(call)
            self._changed.notify_all()
        for queue in self._subscribers.get(method, []):
            queue.put_nowait(call)
        gate = self._gates.get(method)
        if gate is not None:
            await gate.wait()
        fault = self._take_fault(method, args)
        if fault is not None:
            body = {"ok": False, "error": fault.error}
            return web.json_response(body, status=fault.status, headers=fault.headers)
        wanted = self.app_token if method == "apps.connections.open" else self.bot_token
        if token != wanted:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if method == "apps.connections.open":
            return web.json_response({"ok": True, "url": f"ws://{self.url[7:]}/socket"})
        handler = self._handlers.get(method)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        result = handler(args)
        if not isinstance(result, dict):
            result = await result
        return web.json_response({"ok": "error" not in result, **result})

    def _take_fault(self, method: str, args: dict[str, Any]) -> _Fault | None:
        for fault in self._faults.get(method, []):
            if fault.when is not None and not fault.when(args):
                continue
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults[method].remove(fault)
            return fault
        return None

    def _auth_test(self, _: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://fake.slack.test/",
            "team": "Fake Workspace",
            "user": "helpdesk",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = dict(self.users.get(str(args.get("user")), {}))
        if not user:
            return {"error": "user_not_found"}
        if str(args.get("include_locale")).lower() not in ("true", "1"):
            user.pop("locale", None)
        return {"user": user}

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        problem = _check_message(args)
        if problem:
            return {"error": problem}
        channel = str(args["channel"])
        ts = f"{1_700_000_000 + next(self._ts)}.000100"
        message = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "text": args.get("text", ""),
            "blocks": args.get("blocks", []),
            "ts": ts,
        }
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        self.messages[(channel, ts)] = message
        return {"channel": channel, "ts": ts, "message": message}

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (str(args.get("channel")), str(args.get("ts")))
        if key not in self.messages:
            return {"error": "message_not_found"}
        problem = _check_message(args)
        if problem:
            return {"error": problem}
        self.messages[key].update(text=args.get("text", ""), blocks=args.get("blocks", []))
        return {"channel": key[0], "ts": key[1], "text": args.get("text", "")}

    def _post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        # Seen by one user only; the record is the call itself (``calls("chat.postEphemeral")``).
        if not args.get("user"):
            return {"error": "user_not_in_channel"}
        return {"message_ts": self.next_ts()}

    # --- events, as Slack sends them -------------------------------------------------

    def next_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.000200"

    def dm(
        self, user: str, text: str, *, channel: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """A ``message.im`` event: ``user`` writes ``text`` in their DM with the app."""
        return {
            "type": "message",
            "channel": channel or f"D{user}",
            "channel_type": "im",
            "user": user,
            "text": text,
            "ts": self.next_ts(),
            "event_ts": self.next_ts(),
            **extra,
        }

    def mention(
        self, user: str, text: str, *, channel: str = "C0SUPPORT", **extra: Any
    ) -> dict[str, Any]:
        """An ``app_mention``: ``<@bot> text`` in ``channel`` (``thread_ts=`` for a thread)."""
        ts = self.next_ts()
        return {
            "type": "app_mention",
            "channel": channel,
            "user": user,
            "text": f"<@{self.bot_user_id}> {text}",
            "ts": ts,
            "event_ts": ts,
            **extra,
        }

    def channel_message(
        self, user: str, text: str, *, channel: str, thread_ts: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """A ``message.channels`` event: ``user`` writes in ``channel`` (in a thread if given)."""
        ts = self.next_ts()
        event = {
            "type": "message",
            "channel": channel,
            "channel_type": "channel",
            "user": user,
            "text": text,
            "ts": ts,
            "event_ts": ts,
            **extra,
        }
        if thread_ts is not None:
            event["thread_ts"] = thread_ts
        return event

    def event_callback(
        self, event: dict[str, Any], *, event_id: str | None = None
    ) -> dict[str, Any]:
        """The Events API envelope around ``event``."""
        return {
            "token": "legacy-verification-token",
            "team_id": self.team_id,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(time.time()),
            "authorizations": [
                {"team_id": self.team_id, "user_id": self.bot_user_id, "is_bot": True}
            ],
        }

    def press(self, channel: str, ts: str, *, user: str, index: int = 0) -> dict[str, Any]:
        """The ``block_actions`` payload: ``user`` presses button ``index`` of a posted message."""
        message = self.messages[(channel, ts)]
        buttons = [
            (block, element)
            for block in message["blocks"]
            if block.get("type") == "actions"
            for element in block["elements"]
        ]
        block, button = buttons[index]
        container: dict[str, Any] = {
            "type": "message",
            "message_ts": ts,
            "channel_id": channel,
            "is_ephemeral": False,
        }
        if "thread_ts" in message:
            container["thread_ts"] = message["thread_ts"]
        return {
            "type": "block_actions",
            "team": {"id": self.team_id, "domain": "fake"},
            "user": {
                "id": user,
                "username": user.lower(),
                "name": user.lower(),
                "team_id": self.team_id,
            },
            "api_app_id": self.app_id,
            "token": "legacy-verification-token",
            "container": container,
            "trigger_id": f"{uuid.uuid4().int % 10**12}.trigger",
            "channel": {"id": channel, "name": "directmessage" if channel[0] == "D" else "support"},
            "message": dict(message),
            "response_url": f"{self.url}/response/{uuid.uuid4().hex}",
            "actions": [
                {
                    "type": "button",
                    "action_id": button["action_id"],
                    "block_id": block.get("block_id", ""),
                    "text": button["text"],
                    "value": button.get("value"),
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }

    def signature_headers(self, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
        """``X-Slack-Request-Timestamp`` and ``X-Slack-Signature`` (v0 HMAC-SHA256) for ``body``."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        base = b"v0:" + stamp.encode() + b":" + body
        digest = hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}

    async def post(
        self,
        url: str,
        body: dict[str, Any],
        *,
        interactive: bool = False,
        retry_num: int | None = None,
        timestamp: int | None = None,
        tamper: bool = False,
    ) -> httpx.Response:
        """POST a payload to the app as Slack does: signed; form-encoded when ``interactive``.

        ``retry_num`` adds Slack's retry headers; ``timestamp`` signs with another time
        (a stale request); ``tamper`` changes the body after signing.
        """
        assert self._http is not None, "use FakeSlack as an async context manager"
        if interactive:
            content = urlencode({"payload": json.dumps(body)}).encode()
            content_type = "application/x-www-form-urlencoded"
        else:
            content = json.dumps(body).encode()
            content_type = "application/json"
        headers = {
            "Content-Type": content_type,
            **self.signature_headers(content, timestamp=timestamp),
        }
        if retry_num is not None:
            headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        if tamper:
            content = content.replace(b"e", b"E", 1)
        return await self._http.post(url, content=content, headers=headers)

    async def post_event(self, url: str, event: dict[str, Any], **kwargs: Any) -> httpx.Response:
        """POST ``event`` in a fresh Events API envelope (see :meth:`post` for ``kwargs``)."""
        return await self.post(url, self.event_callback(event), **kwargs)

    # --- Socket Mode -----------------------------------------------------------------

    async def _socket_endpoint(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async with self._changed:
            self._socket = ws
            self.socket_connections += 1
            self._changed.notify_all()
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "debug_info": {"host": "fake-slack", "approximate_connection_time": 3600},
                "connection_info": {"app_id": self.app_id},
            }
        )
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                continue
            with contextlib.suppress(ValueError):
                data = json.loads(frame.data)
                if isinstance(data, dict) and "envelope_id" in data:
                    self.acks.append(data)
                    future = self._pending_acks.pop(data["envelope_id"], None)
                    if future is not None and not future.done():
                        future.set_result(data)
        async with self._changed:
            if self._socket is ws:
                self._socket = None
            self._changed.notify_all()
        return ws

    async def wait_connected(self, connections: int = 1, *, within: float = 10.0) -> None:
        """Wait until the app has opened ``connections`` sockets so far, the last still open."""

        def connected() -> bool:
            return self.socket_connections >= connections and self._socket is not None

        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(connected)

    async def push(
        self, payload: dict[str, Any], *, kind: str = "events_api", retry_attempt: int = 0
    ) -> str:
        """Send an envelope (``events_api``, ``interactive``) down the socket; its envelope id."""
        await self.wait_connected()
        assert self._socket is not None
        envelope_id = str(uuid.uuid4())
        self._pending_acks[envelope_id] = asyncio.get_running_loop().create_future()
        await self._socket.send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": kind != "events_api",
                "retry_attempt": retry_attempt,
                "retry_reason": "timeout" if retry_attempt else "",
            }
        )
        return envelope_id

    async def acked(self, envelope_id: str, within: float = 5.0) -> dict[str, Any]:
        """Wait for the app's acknowledgement of an envelope."""
        for ack in self.acks:
            if ack["envelope_id"] == envelope_id:
                return ack
        async with asyncio.timeout(within):
            return await self._pending_acks[envelope_id]

    async def disconnect_socket(self, reason: str = "refresh_requested") -> None:
        """Ask the app to reconnect, as Slack does every few hours."""
        if self._socket is not None:
            await self._socket.send_json({"type": "disconnect", "reason": reason})


async def _arguments(request: web.Request) -> dict[str, Any]:
    args: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            args.update(body if isinstance(body, dict) else {})
        else:
            args.update(dict(await request.post()))
    for key in ("blocks", "attachments"):
        if isinstance(args.get(key), str):
            args[key] = json.loads(args[key])
    return args


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:] if header.startswith("Bearer ") else None


def _check_message(args: dict[str, Any]) -> str | None:
    """Slack's own checks on a message: the errors a real workspace would answer."""
    if not args.get("channel"):
        return "channel_not_found"
    text, blocks = str(args.get("text") or ""), args.get("blocks") or []
    if not text.strip() and not blocks:
        return "no_text"
    if len(text) > TEXT_LIMIT:
        return "msg_too_long"
    if len(blocks) > BLOCKS_LIMIT:
        return "invalid_blocks"
    for block in blocks:
        if block.get("type") == "section" and len(block["text"]["text"]) > SECTION_LIMIT:
            return "invalid_blocks"
        if block.get("type") == "actions":
            elements = block.get("elements", [])
            if not elements or len(elements) > ELEMENTS_LIMIT:
                return "invalid_blocks"
            if any(len(e["text"]["text"]) > BUTTON_TEXT_LIMIT for e in elements):
                return "invalid_blocks"
    return None
