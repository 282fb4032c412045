"""A fake Telegram Bot API server on 127.0.0.1, for the real python-telegram-bot client.

It speaks the Bot API's HTTP protocol (``/bot<token>/<method>``, form or JSON bodies,
``{"ok": ..., "result": ...}`` answers, the real error codes and descriptions) for what
the bot uses, and records every call::

    async with FakeTelegram() as telegram:
        settings = TelegramSettings(
            base_url=telegram.base_url, base_file_url=telegram.base_file_url
        )
        channel = TelegramChannel(token=telegram.token, settings=settings)
        await channel.start(engine.receive)
        await channel.wait_connected(10)
        alice = TelegramUser(1001, "Alice", language_code="en")
        telegram.push_message(alice, "where is my order?")
        [reply] = await telegram.wait_for("sendMessage")
        assert reply.params["chat_id"] == alice.id

Knobs: :meth:`FakeTelegram.fail_next` makes the next N calls of a method fail
(:meth:`Failure.too_many_requests`, :meth:`Failure.forbidden`, :meth:`Failure.network`,
:meth:`Failure.bad_gateway`); :meth:`FakeTelegram.block` makes a user block the bot;
:meth:`FakeTelegram.redeliver` sends an update again; :meth:`FakeTelegram.deliver_webhook`
posts an update to the webhook the bot registered, as Telegram would.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.support.fake_telegram_api import (
    BotApiError,
    Call,
    Failure,
    TelegramUser,
    WebhookDelivery,
    check_reply_markup,
    check_text,
    request_params,
)

__all__ = ["Call", "Failure", "FakeTelegram", "TelegramUser", "WebhookDelivery"]


@dataclass
class _Webhook:
    url: str
    secret_token: str | None
    allowed_updates: list[str] | None


@dataclass
class _State:
    updates: list[dict[str, Any]] = field(default_factory=list)
    forced: list[dict[str, Any]] = field(default_factory=list)
    history: dict[int, dict[str, Any]] = field(default_factory=dict)
    pushed_at: dict[int, float] = field(default_factory=dict)
    webhook: _Webhook | None = None
    commands: dict[str | None, list[dict[str, str]]] = field(default_factory=dict)
    blocked: dict[int, str] = field(default_factory=dict)
    failures: dict[str, list[Failure | None]] = field(default_factory=dict)
    known_chats: set[int] = field(default_factory=set)
    open_queries: set[str] = field(default_factory=set)


class FakeTelegram:
    """The fake Bot API server. Use as ``async with FakeTelegram() as telegram:``."""

    def __init__(
        self,
        *,
        token: str = "123456:TEST-fake-token",
        bot_id: int = 777000111,
        bot_username: str = "VoltCartBot",
    ) -> None:
        self.token = token
        self.bot = TelegramUser(bot_id, "VoltCart Support", None, bot_username, is_bot=True)
        self.state = _State()
        self._calls: list[Call] = []
        self.webhook_deliveries: list[WebhookDelivery] = []
        self._changed = asyncio.Condition()
        self._subscribers: list[Callable[[Call], None]] = []
        self._update_ids = itertools.count(10_001)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._query_ids = itertools.count(5_000_001)
        self._runner: web.AppRunner | None = None
        self._closing = False
        self.port = 0

    # --- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._endpoint)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._closing = True  # long polls in progress answer now
        await self._wake()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        """For ``channels.telegram.base_url`` (python-telegram-bot appends the token)."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # --- updates in ----------------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update for ``getUpdates``; gives it the next ``update_id`` if it has none."""
        update = {"update_id": next(self._update_ids), **update}
        self.state.updates.append(update)
        self.state.history[update["update_id"]] = update
        self.state.pushed_at[update["update_id"]] = time.monotonic()
        if "callback_query" in update:
            self.state.open_queries.add(update["callback_query"]["id"])
        message = update.get("message") or (update.get("callback_query") or {}).get("message")
        if message:  # the chat wrote to the bot: it may be written to
            self.state.known_chats.add(message["chat"]["id"])
        self._notify()
        return int(update["update_id"])

    def message_update(
        self,
        user: TelegramUser,
        text: str | None = None,
        *,
        chat: dict[str, Any] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A ``message`` update from ``user``: a private chat unless ``chat`` is given."""
        chat = chat or {"id": user.id, "type": "private", "first_name": user.first_name}
        message: dict[str, Any] = {
            "message_id": next(self._message_counter(chat["id"])),
            "date": int(time.time()),
            "chat": chat,
            "from": user.as_json(),
            **fields,
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return {"message": message}

    def push_message(self, user: TelegramUser, text: str | None = None, **fields: Any) -> int:
        return self.push_update(self.message_update(user, text, **fields))

    def callback_update(self, user: TelegramUser, sent: Call, button: int = 0) -> dict[str, Any]:
        """``user`` pressing button number ``button`` (0-based) of a message the bot sent."""
        message = sent.result
        buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
        return {
            "callback_query": {
                "id": str(next(self._query_ids)),
                "from": user.as_json(),
                "chat_instance": f"ci-{message['chat']['id']}",
                "message": message,
                "data": buttons[button]["callback_data"],
            }
        }

    def redeliver(self, update_id: int) -> None:
        """Send an update again in the next ``getUpdates``, whatever the offset says.

        That is what Telegram does when the bot never confirmed it: a crash, or a response
        lost on the way. The bot must answer it once.
        """
        self.state.forced.append(self.state.history[update_id])
        self._notify()

    async def deliver_webhook(
        self, update: dict[str, Any] | int, *, secret: str | bool | None = True
    ) -> int:
        """POST an update to the registered webhook like Telegram; returns the HTTP status.

        ``update`` is an update dict (queued first) or the id of one pushed before.
        ``secret``: ``True`` sends the registered secret token, ``None``/``False`` none,
        a string sends that string instead.
        """
        assert self.state.webhook is not None, "the bot registered no webhook"
        if isinstance(update, int):
            body = self.state.history[update]
        else:
            update_id = self.push_update(update)
            self.state.updates.pop()  # a webhook bot never polls for it
            body = self.state.history[update_id]
        headers = {"Content-Type": "application/json"}
        token = self.state.webhook.secret_token if secret is True else secret
        if isinstance(token, str):
            headers["X-Telegram-Bot-Api-Secret-Token"] = token
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.state.webhook.url, data=json.dumps(body), headers=headers) as resp,
        ):
            await resp.read()
            self.webhook_deliveries.append(
                WebhookDelivery(body["update_id"], resp.status, time.monotonic())
            )
            return resp.status

    def pushed_at(self, update_id: int) -> float:
        """When an update became available (``time.monotonic()``)."""
        return self.state.pushed_at[update_id]

    # --- calls out -----------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        """Recorded calls of ``method`` (all methods when ``None``), oldest first."""
        return [c for c in self._calls if method is None or c.method == method]

    def sent_to(self, chat_id: int) -> list[Call]:
        """Successful ``sendMessage`` calls to one chat."""
        return [
            c
            for c in self.calls("sendMessage")
            if c.status == 200 and c.params.get("chat_id") == chat_id
        ]

    async def wait_for(
        self,
        method: str,
        count: int = 1,
        *,
        where: Callable[[Call], bool] | None = None,
        status: int | None = 200,
        within_s: float = 20.0,
    ) -> list[Call]:
        """Wait until ``count`` calls of ``method`` answered with ``status`` (any when
        ``None``) and matching ``where`` arrived; returns all of them so far."""

        def matching() -> list[Call]:
            return [
                c
                for c in self.calls(method)
                if (status is None or c.status == status) and (where is None or where(c))
            ]

        async with asyncio.timeout(within_s), self._changed:
            await self._changed.wait_for(lambda: len(matching()) >= count)
        return matching()

    def subscribe(self, listener: Callable[[Call], None]) -> None:
        """Call ``listener`` with every call once it is answered (cheap, for benchmarks:
        :meth:`wait_for` re-reads the whole call log on every change)."""
        self._subscribers.append(listener)

    # --- knobs ---------------------------------------------------------------------------

    def fail_next(self, method: str, failure: Failure, times: int = 1, *, after: int = 0) -> None:
        """The next ``times`` calls of ``method`` fail with ``failure``; with ``after``, only
        once that many more calls have been answered normally."""
        queue = self.state.failures.setdefault(method, [])
        queue.extend([None] * after + [failure] * times)

    def start_chat(self, user: TelegramUser) -> None:
        """As if ``user`` had pressed Start before: the bot may write to them.

        Telegram answers "chat not found" for a chat that never wrote to the bot.
        """
        self.state.known_chats.add(user.id)

    def block(self, user: TelegramUser) -> None:
        """``user`` blocks the bot: sending to their private chat answers 403 from now on."""
        self.state.blocked[user.id] = "Forbidden: bot was blocked by the user"

    def unblock(self, user: TelegramUser) -> None:
        self.state.blocked.pop(user.id, None)

    def remove_bot(self, chat_id: int) -> None:
        """The bot is removed from a group: sending there answers 403 from now on."""
        self.state.blocked[chat_id] = "Forbidden: bot was kicked from the supergroup chat"

    @property
    def commands(self) -> dict[str | None, list[dict[str, str]]]:
        """The command menus set with ``setMyCommands``, by ``language_code``."""
        return self.state.commands

    @property
    def webhook_url(self) -> str | None:
        return self.state.webhook.url if self.state.webhook else None

    # --- the HTTP side -------------------------------------------------------------------

    def _message_counter(self, chat_id: int) -> itertools.count[int]:
        return self._message_ids.setdefault(chat_id, itertools.count(1))

    def _answered(self, call: Call) -> None:
        for listener in self._subscribers:
            listener(call)
        self._notify()

    def _notify(self) -> None:
        asyncio.get_running_loop().create_task(self._wake())

    async def _wake(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _endpoint(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        call = Call(method, await request_params(request), time.monotonic())
        self._calls.append(call)
        self._notify()
        try:
            if request.match_info["token"] != self.token:
                raise BotApiError(401, "Unauthorized")
            failures = self.state.failures.get(method)
            failure = failures.pop(0) if failures else None
            if failure is not None:
                if failure.drop_connection:
                    call.status = 0
                    assert request.transport is not None
                    request.transport.abort()
                    self._answered(call)
                    return web.Response()
                raise BotApiError(failure.status, failure.description, failure.retry_after)
            handler = getattr(self, f"_api_{method}", None)
            if handler is None:
                raise BotApiError(404, "Not Found")
            call.result = await handler(call.params)
        except BotApiError as error:
            call.status = error.status
            call.result = error.description
            self._answered(call)
            return web.json_response(error.as_json(), status=error.status)
        call.status = 200
        self._answered(call)
        return web.json_response({"ok": True, "result": call.result})

    async def _api_getMe(self, _: dict[str, Any]) -> dict[str, Any]:
        return {**self.bot.as_json(), "can_join_groups": True, "supports_inline_queries": False}

    async def _api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.state.webhook is not None:
            raise BotApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset")
        if offset is not None:  # confirms everything before it
            self.state.updates = [u for u in self.state.updates if u["update_id"] >= offset]
        limit = params.get("limit") or 100

        def ready() -> list[dict[str, Any]]:
            return (self.state.forced + self.state.updates)[:limit]

        if not ready() and params.get("timeout"):
            try:
                async with asyncio.timeout(float(params["timeout"])), self._changed:
                    await self._changed.wait_for(lambda: bool(ready()) or self._closing)
            except TimeoutError:
                pass
        batch = ready()
        self.state.forced = self.state.forced[len(batch) :]
        return batch

    async def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int) or chat_id not in self.state.known_chats:
            raise BotApiError(400, "Bad Request: chat not found")
        if chat_id in self.state.blocked:
            raise BotApiError(403, self.state.blocked[chat_id])
        plain = check_text(params.get("text"), params.get("parse_mode"))
        markup = params.get("reply_markup")
        check_reply_markup(markup)
        message: dict[str, Any] = {
            "message_id": next(self._message_counter(chat_id)),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "from": self.bot.as_json(),
            "text": plain,
        }
        if markup:
            message["reply_markup"] = markup
        return message

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id"))
        if query_id not in self.state.open_queries:
            raise BotApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        self.state.open_queries.discard(query_id)
        return True

    async def _api_sendChatAction(self, params: dict[str, Any]) -> bool:
        return True

    async def _api_setMyCommands(self, params: dict[str, Any]) -> bool:
        self.state.commands[params.get("language_code")] = list(params.get("commands") or [])
        return True

    async def _api_setWebhook(self, params: dict[str, Any]) -> bool:
        url = params.get("url") or ""
        if not url:
            self.state.webhook = None
            return True
        self.state.webhook = _Webhook(
            url, params.get("secret_token"), params.get("allowed_updates")
        )
        if params.get("drop_pending_updates"):
            self.state.updates.clear()
        return True

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.state.webhook = None
        if params.get("drop_pending_updates"):
            self.state.updates.clear()
        return True

    async def _api_getWebhookInfo(self, _: dict[str, Any]) -> dict[str, Any]:
        hook = self.state.webhook
        return {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.state.updates),
        }
