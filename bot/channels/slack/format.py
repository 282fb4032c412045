"""Outbound Slack messages, pure: mrkdwn escaping, splitting, Block Kit buttons.

Each reply becomes one or more ``chat.postMessage`` argument sets. Every part
carries a plain ``text`` (what notifications, screen readers and clients that
cannot render blocks show) and the same text as a ``section`` block; the last
part also carries the buttons as an ``actions`` block, and its ``text`` lists
them as numbered options.
"""

from __future__ import annotations

from typing import Any

from bot.messages import Button, OutboundMessage

SECTION_LIMIT = 3000
"""Slack's limit for a section block's text; parts are cut to it (chat.postMessage
itself truncates ``text`` past 40,000 characters and recommends under 4,000)."""
BUTTON_TITLE_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
BUTTONS_PER_BLOCK = 25
ACTION_PREFIX = "helpdesk_button_"
"""``action_id`` of our buttons: the prefix plus the button's index in the reply."""
BUTTONS_BLOCK = "helpdesk_buttons"
CHOICE_BLOCK = "helpdesk_choice"

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn reserves for links and mentions."""
    return "".join(_ESCAPES.get(char, char) for char in text)


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Cut ``text`` into parts whose *escaped* length is at most ``limit``.

    Prefers a paragraph break, then a line break, then a space, in the second half
    of the window; only a single word longer than the window is cut mid-word.
    """
    parts: list[str] = []
    rest = text.strip()
    while len(escape(rest)) > limit:
        window = max(_fitting_prefix(rest, limit), 1)
        cut = _break_point(rest[:window]) or window
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not parts:
        parts.append(rest)
    return parts


def _fitting_prefix(text: str, limit: int) -> int:
    used = 0
    for index, char in enumerate(text):
        used += len(_ESCAPES.get(char, char))
        if used > limit:
            return index
    return len(text)


def _break_point(window: str) -> int | None:
    for separator in ("\n\n", "\n", " "):
        at = window.rfind(separator)
        if at >= len(window) // 2:
            return at
    return None


def numbered_options(buttons: tuple[Button, ...]) -> str:
    return "\n".join(f"{i}. {button.title}" for i, button in enumerate(buttons, start=1))


def button_block(buttons: tuple[Button, ...]) -> list[dict[str, Any]]:
    """Buttons as ``actions`` blocks; ``value`` is the payload the engine gets back."""
    elements = [
        {
            "type": "button",
            "action_id": f"{ACTION_PREFIX}{index}",
            "text": {"type": "plain_text", "text": _clip(button.title, BUTTON_TITLE_LIMIT)},
            "value": button.payload[:BUTTON_VALUE_LIMIT],
        }
        for index, button in enumerate(buttons)
    ]
    return [
        {
            "type": "actions",
            "block_id": BUTTONS_BLOCK if start == 0 else f"{BUTTONS_BLOCK}_{start}",
            "elements": elements[start : start + BUTTONS_PER_BLOCK],
        }
        for start in range(0, len(elements), BUTTONS_PER_BLOCK)
    ]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def section(mrkdwn: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}


def to_platform(message: OutboundMessage) -> list[dict[str, Any]]:
    """The ``chat.postMessage`` arguments (without ``channel``/``thread_ts``) for a reply."""
    parts = split_text(message.text)
    posts: list[dict[str, Any]] = []
    for index, part in enumerate(parts):
        text = escape(part)
        blocks = [section(text)] if text else []
        if index == len(parts) - 1 and message.buttons:
            blocks += button_block(message.buttons)
            # The fallback must stay usable without blocks: the options as numbered text.
            text = f"{text}\n{escape(numbered_options(message.buttons))}".strip()
        posts.append({"text": text or " ", "blocks": blocks})
    return posts


def with_choice(blocks: list[dict[str, Any]], *, title: str, user_id: str) -> list[dict[str, Any]]:
    """The pressed message's blocks with its buttons replaced by the choice that was made."""
    kept = [b for b in blocks if not str(b.get("block_id", "")).startswith(BUTTONS_BLOCK)]
    choice = {
        "type": "context",
        "block_id": CHOICE_BLOCK,
        "elements": [{"type": "mrkdwn", "text": f"✅ <@{user_id}> chose *{escape(title)}*"}],
    }
    return [*kept, choice]
