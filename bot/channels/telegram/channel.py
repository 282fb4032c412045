"""The Telegram channel: a thin shell around python-telegram-bot's ``Application``.

The channel holds the Application (never extends it). Updates arrive by long polling
(:mod:`bot.channels.telegram.polling`) or by webhook (:meth:`TelegramChannel.routes`,
mounted on the one ASGI app); either way they travel through the Application's queue,
which runs different chats concurrently (``concurrent_updates``) while the engine keeps
each conversation in order. Converters live in ``telegram_inbound`` and ``telegram_outbound``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from starlette.routing import BaseRoute, Route
from telegram import BotCommand, Message, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, ContextTypes, TypeHandler

from bot.channels import (
    MAX_TEXT_CHARS,
    Bounded,
    ChannelSendError,
    OnMessage,
    bounded,
    too_long_notice,
)
from bot.channels.telegram.inbound import BotIdentity, MalformedUpdate, chat_id_of, to_inbound
from bot.channels.telegram.outbound import CallbackPayloads, to_platform
from bot.channels.telegram.polling import ALLOWED_UPDATES, TelegramDelivery, UpdatePoller
from bot.channels.telegram.retry import Backoff, SendRetryPolicy, retry_after_s
from bot.channels.telegram.send import SendProgress, send_parts
from bot.channels.telegram.setup import CommandMenu, check_settings, command_menu, redact_in_logs
from bot.channels.telegram.webhook import WebhookEndpoint
from bot.i18n import Catalogue
from bot.messages import OutboundMessage
from bot.settings import TelegramSettings

__all__ = ["TelegramChannel", "command_menu"]

log = logging.getLogger(__name__)


class TelegramChannel:
    """Customers on Telegram, by long polling (default) or webhook."""

    name = "telegram"

    def __init__(
        self,
        *,
        token: str,
        settings: TelegramSettings,
        webhook_secret: str | None = None,
        commands: CommandMenu | None = None,
        retry: SendRetryPolicy | None = None,
        backoff: Backoff | None = None,
        max_text_chars: int = MAX_TEXT_CHARS,
        catalogue: Catalogue | None = None,
    ) -> None:
        check_settings(settings, webhook_secret)
        self.settings = settings
        self.max_text_chars = max_text_chars
        self._catalogue = catalogue or Catalogue.load()
        self._secret = webhook_secret
        self._commands = commands or {}
        self._retry = retry or SendRetryPolicy()
        self._backoff = backoff or Backoff()
        redact_in_logs(token)  # before PTB logs its URLs
        self.application = (
            Application.builder()
            .token(token)
            .base_url(settings.base_url)
            .base_file_url(settings.base_file_url)
            .concurrent_updates(settings.concurrent_updates)
            .updater(None)  # polling is ours: it confirms only what is stored
            .job_queue(None)
            .build()
        )
        self.application.add_handler(TypeHandler(TelegramDelivery, self._handle))
        self.payloads = CallbackPayloads()
        self._me: BotIdentity | None = None
        self._on_message: OnMessage | None = None
        self._connected = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._poller: UpdatePoller | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reply_targets: OrderedDict[str, tuple[int, int | None]] = OrderedDict()
        self._typing: dict[str, asyncio.Task[Any]] = {}
        self._progress = SendProgress()

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self, on_message: OnMessage) -> None:
        """Connect in the background: Telegram being down must not stop the rest of the bot."""
        self._on_message = on_message
        self._runner = asyncio.create_task(self._run(), name="telegram")

    async def wait_connected(self, timeout_s: float | None = None) -> None:
        """Wait until the bot is known to Telegram and receiving (tests, health checks).

        Raises ``RuntimeError`` when the channel gave up (a rejected token), ``TimeoutError``
        when Telegram stays unreachable for ``timeout_s``.
        """
        assert self._runner is not None, "channel not started"
        connected = asyncio.ensure_future(self._connected.wait())
        try:
            await asyncio.wait(
                {connected, self._runner}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            connected.cancel()
        if self._connected.is_set():
            return
        if self._runner.done():
            raise RuntimeError("the Telegram channel could not start; see the log")
        raise TimeoutError("Telegram did not answer in time")

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def username(self) -> str | None:
        """The bot's @name as Telegram gave it (``getMe``); ``None`` until connected.
        The "continue on Telegram" link (``t.me/<name>?start=...``) is built from it."""
        return self._me.username if self._me is not None else None

    async def stop(self) -> None:
        self._connected.clear()
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        if self.application.running:
            await self.application.stop()  # finishes the updates in flight
        if self._poller is not None:
            await self._poller.confirm()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.application.shutdown()  # a no-op if it never initialized

    async def _run(self) -> None:
        try:
            await self._connect()
        except InvalidToken:  # its message contains the token: never log it
            log.error("Telegram rejected TELEGRAM_BOT_TOKEN; the Telegram channel is off")
            return
        except TelegramError as exc:
            log.error("the Telegram channel could not start: %s", exc.message)
            return
        if self.settings.mode == "polling":
            self._poller = UpdatePoller(
                self.application.bot,
                self.application.update_queue,
                timeout_s=self.settings.poll_timeout_s,
                backoff=self._backoff,
            )
            await self._poller.run()

    async def _connect(self) -> None:
        await self._patiently(self.application.initialize, "connecting to Telegram")
        bot = self.application.bot
        self._me = BotIdentity(id=bot.id, username=bot.username)
        await self.application.start()
        try:
            await self._patiently(self._publish_commands, "setMyCommands")
        except TelegramError as exc:  # a menu is a nicety; answering is what matters
            log.warning("could not set the Telegram command menu: %s", exc.message)
        if self.settings.mode == "webhook":
            await self._patiently(self._set_webhook, "setWebhook")
        else:
            await self._patiently(
                lambda: bot.delete_webhook(drop_pending_updates=False), "deleteWebhook"
            )
        self._connected.set()
        log.info("Telegram channel connected as @%s (%s)", bot.username, self.settings.mode)

    async def _patiently(self, action: Callable[[], Awaitable[Any]], what: str) -> None:
        """Retry ``action`` through network trouble and flood control; other errors raise."""
        attempt = 0
        while True:
            try:
                await action()
                return
            except RetryAfter as exc:
                await asyncio.sleep(retry_after_s(exc))
            except BadRequest:
                raise  # a NetworkError in PTB's hierarchy, but retrying cannot fix it
            except NetworkError as exc:
                attempt += 1
                delay = self._backoff.delay(attempt)
                log.warning("%s failed (%s); retrying in %.0f s", what, exc.message, delay)
                await asyncio.sleep(delay)

    async def _publish_commands(self) -> None:
        bot = self.application.bot
        for language, commands in self._commands.items():
            menu = [BotCommand(name, description) for name, description in commands]
            await bot.set_my_commands(menu, language_code=language)

    async def _set_webhook(self) -> None:
        assert self.settings.webhook_url is not None  # check_settings made sure
        await self.application.bot.set_webhook(
            url=self.settings.webhook_url,
            secret_token=self._secret,
            allowed_updates=list(ALLOWED_UPDATES),
            drop_pending_updates=False,
        )

    # --- inbound -------------------------------------------------------------------------

    async def _handle(self, delivery: TelegramDelivery, _: ContextTypes.DEFAULT_TYPE) -> None:
        """One update, in the Application's concurrent processing: convert, store, answer."""
        update = delivery.update
        try:
            if update.callback_query is not None:
                # Stop the spinner on the customer's button at once; the answer follows.
                self._spawn(update.callback_query.answer())
            assert self._me is not None and self._on_message is not None
            try:
                inbound = to_inbound(
                    update,
                    bot=self._me,
                    group_replies=self.settings.group_replies,
                    resolve_payload=self.payloads.decode,
                )
            except MalformedUpdate as exc:
                log.warning("Telegram update refused: %s", exc)
                delivery.fail(exc)  # the webhook answers 400; polling skips it
                return
            fitted = bounded(inbound, max_text_chars=self.max_text_chars) if inbound else None
            if fitted is None:
                delivery.settle()
                return
            inbound = fitted.inbound
            self._remember_reply_target(inbound.conversation_key, update)

            async def stored() -> None:
                delivery.settle()
                key = inbound.conversation_key
                if fitted.original_chars is not None:
                    self._spawn(self._tell_cut(key, fitted))
                self._typing[key] = self._spawn(self._show_typing(key))

            # The update is settled (Telegram may move on) once the message is committed.
            await self._on_message(inbound, on_stored=stored)
        except Exception as exc:
            log.exception("Telegram update %s failed", update.update_id)
            delivery.fail(exc)
        finally:
            delivery.fail(RuntimeError(f"update {update.update_id} was not stored"))

    async def _tell_cut(self, key: str, message: Bounded) -> None:
        """The customer hears that only the beginning of a long message was kept."""
        text = too_long_notice(self._catalogue, message, max_text_chars=self.max_text_chars)
        thread = self._reply_targets.get(key, (0, None))[1]
        try:
            await self.application.bot.send_message(chat_id_of(key), text, message_thread_id=thread)
        except TelegramError as exc:
            log.warning("could not say a message was cut: %s", exc.message)

    def _remember_reply_target(self, key: str, update: Update) -> None:
        """In groups the reply quotes the customer's message, so they see it is for them."""
        message = update.effective_message
        if message is None or not isinstance(message, Message):
            return
        if message.chat.type == ChatType.PRIVATE:
            return
        thread = message.message_thread_id if message.is_topic_message else None
        self._reply_targets[key] = (message.message_id, thread)
        self._reply_targets.move_to_end(key)
        while len(self._reply_targets) > 10_000:
            self._reply_targets.popitem(last=False)

    async def _show_typing(self, key: str) -> None:
        thread = self._reply_targets.get(key, (0, None))[1]
        try:
            await self.application.bot.send_chat_action(
                chat_id_of(key), ChatAction.TYPING, message_thread_id=thread
            )
        except TelegramError as exc:
            log.debug("sendChatAction failed: %s", exc.message)

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(_finished(self._tasks))
        return task

    # --- webhook -------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """The webhook endpoint, in webhook mode only (polling exposes nothing)."""
        if self.settings.mode != "webhook":
            return []
        assert self._secret is not None  # check_settings made sure
        endpoint = WebhookEndpoint(
            secret=self._secret,
            bot=self.application.bot,
            queue=self.application.update_queue,
            ready=self._connected.is_set,
        )
        return [Route(self.settings.webhook_path, endpoint.handle, methods=["POST"])]

    # --- outbound ------------------------------------------------------------------------

    async def send(self, conversation_key: str, message: OutboundMessage) -> str | None:
        """Send one reply (several messages when long); returns ``"<chat id>:<message id>"``.

        Raises ``RecipientUnreachable`` on 403 and ``ChannelSendError`` while Telegram is
        unreachable (after the retries of :class:`SendRetryPolicy`): the outbox retries.
        """
        if not self._connected.is_set():
            raise ChannelSendError("not connected to Telegram yet")
        try:
            chat_id = chat_id_of(conversation_key)
        except ValueError:
            raise ChannelSendError(
                f"not a Telegram conversation key: {conversation_key!r}", permanent=True
            ) from None
        typing = self._typing.pop(conversation_key, None)
        if typing is not None:
            # "typing..." arriving after the reply would linger for seconds: let it go first.
            await asyncio.wait([typing], timeout=1.0)
        return await send_parts(
            self.application.bot,
            chat_id=chat_id,
            parts=to_platform(message, self.payloads),
            reply_target=self._reply_targets.get(conversation_key),
            progress=self._progress.of(conversation_key, message),
            policy=self._retry,
            group=":" in conversation_key,
        )


def _finished(tasks: set[asyncio.Task[Any]]) -> Callable[[asyncio.Task[Any]], None]:
    def discard(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("Telegram background call failed: %s", task.exception())

    return discard
