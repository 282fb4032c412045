"""The Bot API as the fake Telegram server speaks it: accounts, calls, failures,
request decoding, and the rules it enforces with Telegram's own error texts.

Strict where a real bot gets caught out: text length after entity parsing (4096), HTML
that does not parse, ``callback_data`` over 64 bytes.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

TEXT_LIMIT = 4096
CALLBACK_DATA_LIMIT = 64
HTML_TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
        "tg-spoiler", "span", "blockquote", "tg-emoji",
    }
)  # fmt: skip
_TAG = re.compile(r"<(/?)([a-zA-Z-]+)(?:\s[^<>]*)?>")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")
# How the fake decodes form fields (python-telegram-bot sends JSON-encoded values).
JSON_FIELDS = frozenset(
    {"reply_markup", "allowed_updates", "commands", "scope", "reply_parameters", "entities"}
)
INT_FIELDS = frozenset({"offset", "limit", "timeout", "message_id", "message_thread_id"})
BOOL_FIELDS = frozenset({"drop_pending_updates", "show_alert", "disable_notification"})


@dataclass(frozen=True)
class TelegramUser:
    """A Telegram account writing to the bot."""

    id: int
    first_name: str
    language_code: str | None = "en"
    username: str | None = None
    is_bot: bool = False

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.language_code:
            data["language_code"] = self.language_code
        if self.username:
            data["username"] = self.username
        return data


@dataclass(frozen=True)
class Failure:
    """How one Bot API call fails."""

    status: int
    description: str
    retry_after: int | None = None
    drop_connection: bool = False

    @classmethod
    def too_many_requests(cls, retry_after: int = 1) -> Failure:
        return cls(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)

    @classmethod
    def forbidden(cls) -> Failure:
        return cls(403, "Forbidden: bot was blocked by the user")

    @classmethod
    def network(cls) -> Failure:
        """The connection closes without an answer."""
        return cls(0, "connection dropped", drop_connection=True)

    @classmethod
    def bad_gateway(cls) -> Failure:
        return cls(502, "Bad Gateway")


@dataclass
class Call:
    """One recorded Bot API call: its decoded parameters and what the fake answered."""

    method: str
    params: dict[str, Any]
    at: float
    """``time.monotonic()`` when the request arrived."""
    status: int | None = None
    """The HTTP status answered; ``None`` while the call is in progress (a long poll),
    0 for a dropped connection."""
    result: Any = None


@dataclass
class WebhookDelivery:
    update_id: int
    status: int
    at: float


class BotApiError(Exception):
    """An error answer: ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.retry_after is not None:
            data["parameters"] = {"retry_after": self.retry_after}
        return data


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def check_text(text: Any, parse_mode: Any) -> str:
    """The message's text as the customer sees it; raises like Telegram for a bad one."""
    if not isinstance(text, str) or not text.strip():
        raise BotApiError(400, "Bad Request: message text is empty")
    plain = _parse_html(text) if parse_mode == "HTML" else text
    if not plain.strip():
        raise BotApiError(400, "Bad Request: message text is empty")
    if utf16_length(plain) > TEXT_LIMIT:
        raise BotApiError(400, "Bad Request: message is too long")
    return plain


def _parse_html(text: str) -> str:
    open_tags: list[str] = []
    for match in _TAG.finditer(text):
        closing, name = match[1], match[2].lower()
        if name not in HTML_TAGS:
            raise BotApiError(
                400,
                f'Bad Request: can\'t parse entities: Unsupported start tag "{name}" '
                f"at byte offset {match.start()}",
            )
        if closing:
            if not open_tags or open_tags.pop() != name:
                raise BotApiError(
                    400, f"Bad Request: can't parse entities: unexpected end tag {name}"
                )
        else:
            open_tags.append(name)
    if open_tags:
        raise BotApiError(400, "Bad Request: can't parse entities: unclosed start tag")
    without_tags = _TAG.sub("", text)
    if "<" in without_tags or ">" in without_tags:
        raise BotApiError(
            400, "Bad Request: can't parse entities: unescaped '<' or '>' in the text"
        )
    if "&" in _ENTITY.sub("", without_tags):
        raise BotApiError(400, "Bad Request: can't parse entities: unescaped '&' (use &amp;)")
    return html.unescape(without_tags)


def check_reply_markup(markup: Any) -> None:
    if markup is None:
        return
    if not isinstance(markup, dict):
        raise BotApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return  # a reply keyboard or a removal: not used by this bot
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise BotApiError(400, 'Bad Request: field "inline_keyboard" must be an Array of Array')
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not button.get("text"):
                raise BotApiError(
                    400, "Bad Request: text buttons are unallowed in the inline keyboard"
                )
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= CALLBACK_DATA_LIMIT:
                raise BotApiError(400, "Bad Request: BUTTON_DATA_INVALID")


async def request_params(request: web.Request) -> dict[str, Any]:
    """Bot API parameters from a query string, a form (PTB's way) or a JSON body."""
    raw: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json()
        return {**raw, **body}
    if request.can_read_body:
        raw.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
    params: dict[str, Any] = {}
    for name, value in raw.items():
        params[name] = _decode(name, value)
    return params


def _decode(name: str, value: str) -> Any:
    if name in JSON_FIELDS:
        return json.loads(value)
    if name in INT_FIELDS or name == "chat_id":
        try:
            return int(value)
        except ValueError:
            return value  # "@channelname"
    if name in BOOL_FIELDS:
        return value == "true"
    return value
