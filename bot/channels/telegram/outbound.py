""":class:`OutboundMessage` to Telegram messages: split, escaped, buttons as inline keyboards.

Pure apart from :class:`CallbackPayloads`, the small memory that lets a button carry a
payload longer than Telegram's 64-byte ``callback_data``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.messages import Button, OutboundMessage

TEXT_LIMIT = 4096
"""Telegram's limit for one message, counted in UTF-16 code units after entity parsing."""
CALLBACK_DATA_LIMIT = 64
"""Telegram's limit for a button's ``callback_data``, in bytes."""
TOKEN_PREFIX = "#"
# Where to cut a long reply, best first: a paragraph, a line, a sentence, a word.
_BOUNDARIES = (
    re.compile(r"\n\s*\n"),
    re.compile(r"\n"),
    re.compile(r"(?<=[.!?…।॥。])[\"')\]»]*\s+"),
    re.compile(r"\s+"),
)


@dataclass(frozen=True, slots=True)
class TelegramText:
    """One ``sendMessage``: HTML-escaped text (``parse_mode=HTML``) and an optional keyboard."""

    html: str
    keyboard: InlineKeyboardMarkup | None = None


class CallbackPayloads:
    """Button payloads that fit travel as ``callback_data`` itself (nothing to remember, and
    they survive restarts). Longer ones travel as a short token (``#`` + 22 characters of
    their SHA-256) and are remembered here, the most recent ``capacity`` of them.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._by_token: OrderedDict[str, str] = OrderedDict()

    def encode(self, payload: str) -> str:
        if len(payload.encode()) <= CALLBACK_DATA_LIMIT and not payload.startswith(TOKEN_PREFIX):
            return payload
        digest = hashlib.sha256(payload.encode()).digest()
        token = TOKEN_PREFIX + base64.urlsafe_b64encode(digest).decode()[:22]
        self._by_token[token] = payload
        self._by_token.move_to_end(token)
        while len(self._by_token) > self._capacity:
            self._by_token.popitem(last=False)
        return token

    def decode(self, data: str) -> str | None:
        """The payload behind ``callback_data``; ``None`` for a token no longer remembered."""
        if data.startswith(TOKEN_PREFIX):
            return self._by_token.get(data)
        return data


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut ``text`` into parts of at most ``limit`` UTF-16 units, at the best boundary.

    A boundary is used only in the second half of a part, so no part is needlessly
    short; text with no boundary at all is cut hard.
    """
    parts: list[str] = []
    rest = text.strip()
    while utf16_length(rest) > limit:
        window = _prefix_within(rest, limit)
        cut = _best_cut(window, minimum=len(window) // 2)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def _prefix_within(text: str, limit: int) -> str:
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1  # outside the BMP: a surrogate pair
        if units > limit:
            return text[:index]
    return text


def _best_cut(window: str, *, minimum: int) -> int:
    for boundary in _BOUNDARIES:
        ends = [m.end() for m in boundary.finditer(window) if m.start() >= minimum]
        if ends:
            return ends[-1]
    return len(window)


SCALE_TITLE_CHARS = 4
SCALE_ROW = 6


def keyboard_rows(buttons: Sequence[Button]) -> list[list[Button]]:
    """One button per row, except a scale (a survey's 0-10, 1-7, 1-5 ★: more than three
    buttons, all with short titles), whose buttons share rows of at most six, as evenly
    as they go (11: 6 + 5; 7: 4 + 3), instead of a column taller than the screen."""
    if len(buttons) <= 3 or any(len(b.title) > SCALE_TITLE_CHARS for b in buttons):
        return [[button] for button in buttons]
    rows = -(-len(buttons) // SCALE_ROW)
    per_row = -(-len(buttons) // rows)
    return [list(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row)]


def to_platform(message: OutboundMessage, payloads: CallbackPayloads) -> list[TelegramText]:
    """The Telegram messages for one reply; the buttons go with the last part."""
    # Telegram refuses an empty text; buttons alone still need a line above them.
    parts = split_text(message.text) or (["…"] if message.buttons else [])
    keyboard = (
        InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        button.title, callback_data=payloads.encode(button.payload)
                    )
                    for button in row
                ]
                for row in keyboard_rows(message.buttons)
            ]
        )
        if message.buttons
        else None
    )
    texts = [TelegramText(html.escape(part, quote=False)) for part in parts]
    if texts and keyboard is not None:
        texts[-1] = TelegramText(texts[-1].html, keyboard)
    return texts
