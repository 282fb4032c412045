"""Sending one reply to Telegram, through flood control, blocked users and network trouble.

- 429: wait ``retry_after`` and retry, within :class:`SendRetryPolicy`'s bounds;
- 403 in a private chat (the user blocked the bot) and "chat not found":
  :class:`RecipientUnreachable`; 403 in a group (the bot was removed): a permanent
  :class:`ChannelSendError` for this reply only;
- other 400s: a permanent :class:`ChannelSendError` (sending it again cannot help);
- network errors and 5xx: a short backoff, then a transient :class:`ChannelSendError`, so
  the engine's outbox keeps the reply and retries it. A split reply resumes at the first
  part not yet sent. A timeout can hide a message that did arrive: then the customer may
  see it twice, which is better than never.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Sequence

from telegram import Bot, Message, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.channels import ChannelSendError, RecipientUnreachable
from bot.channels.telegram.outbound import TelegramText
from bot.channels.telegram.retry import SendRetryPolicy, retry_after_s
from bot.messages import OutboundMessage

log = logging.getLogger(__name__)

ReplyTarget = tuple[int, int | None]
"""The message to quote and the forum topic to post in (group chats)."""


class SendProgress:
    """How many parts of each split reply went out, so a retried reply resumes after them.

    Bounded: the oldest entries go first (a reply retried that late is sent whole).
    """

    def __init__(self, capacity: int = 1_000) -> None:
        self._capacity = capacity
        self._sent: OrderedDict[tuple[str, OutboundMessage], int] = OrderedDict()

    def of(self, conversation_key: str, message: OutboundMessage) -> ReplyProgress:
        return ReplyProgress(self, (conversation_key, message))


class ReplyProgress:
    """One reply's entry in :class:`SendProgress`."""

    def __init__(self, table: SendProgress, key: tuple[str, OutboundMessage]) -> None:
        self._table = table._sent
        self._capacity = table._capacity
        self._key = key

    @property
    def sent(self) -> int:
        return self._table.get(self._key, 0)

    def advance(self, sent: int) -> None:
        self._table[self._key] = sent
        while len(self._table) > self._capacity:
            self._table.popitem(last=False)

    def done(self) -> None:
        self._table.pop(self._key, None)


async def send_parts(
    bot: Bot,
    *,
    chat_id: int,
    parts: Sequence[TelegramText],
    reply_target: ReplyTarget | None,
    progress: ReplyProgress,
    policy: SendRetryPolicy,
    group: bool = False,
) -> str | None:
    """Send the parts not yet sent; returns ``"<chat id>:<message id>"`` of the last one."""
    last: Message | None = None
    try:
        for index in range(progress.sent, len(parts)):
            quote = reply_target if index == 0 else None
            last, chat_id = await _send_one(
                bot,
                chat_id,
                parts[index],
                reply_to=quote[0] if quote else None,
                thread=reply_target[1] if reply_target else None,
                policy=policy,
                group=group,
            )
            progress.advance(index + 1)
    except ChannelSendError as exc:
        if exc.permanent:
            progress.done()
        raise
    progress.done()
    return f"{chat_id}:{last.message_id}" if last is not None else None


async def _send_one(
    bot: Bot,
    chat_id: int,
    part: TelegramText,
    *,
    reply_to: int | None,
    thread: int | None,
    policy: SendRetryPolicy,
    group: bool,
) -> tuple[Message, int]:
    floods = failures = 0
    migrated = False
    while True:
        try:
            message = await bot.send_message(
                chat_id=chat_id,
                text=part.html,
                parse_mode=ParseMode.HTML,
                reply_markup=part.keyboard,
                reply_parameters=(
                    ReplyParameters(reply_to, allow_sending_without_reply=True)
                    if reply_to is not None
                    else None
                ),
                message_thread_id=thread,
            )
            return message, chat_id
        except RetryAfter as exc:
            wait = retry_after_s(exc)
            floods += 1
            if floods > policy.flood_retries or wait > policy.max_flood_wait_s:
                raise ChannelSendError(f"Telegram flood control: retry after {wait:.0f} s") from exc
            log.info("Telegram flood control for chat %s: waiting %.1f s", chat_id, wait)
            await asyncio.sleep(wait)
        except Forbidden as exc:
            if group:
                # The bot was removed from the group: the customer can still be written to
                # in private, so this reply fails without marking them unreachable.
                raise ChannelSendError(f"Telegram: {exc.message}", permanent=True) from exc
            raise RecipientUnreachable(f"Telegram: {exc.message}") from exc
        except ChatMigrated as exc:
            if migrated:
                raise ChannelSendError("Telegram: the group moved twice", permanent=True) from exc
            # The group became a supergroup: same people, new chat id.
            chat_id, migrated = exc.new_chat_id, True
        except BadRequest as exc:
            if "chat not found" in exc.message.lower():
                raise RecipientUnreachable(f"Telegram: {exc.message}") from exc
            raise ChannelSendError(f"Telegram refused: {exc.message}", permanent=True) from exc
        except NetworkError as exc:
            if failures >= len(policy.network_backoff):
                raise ChannelSendError(f"Telegram unreachable: {exc.message}") from exc
            await asyncio.sleep(policy.network_backoff[failures])
            failures += 1
        except InvalidToken:
            # Never chain or repeat the original: PTB may put the token in its message.
            raise ChannelSendError("Telegram rejected TELEGRAM_BOT_TOKEN") from None
        except TelegramError as exc:
            raise ChannelSendError(f"Telegram: {exc.message}") from exc
