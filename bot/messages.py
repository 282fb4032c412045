"""The normalized message: what every channel turns platform payloads into and out of."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Button:
    """A quick reply. ``payload`` is sent back as the customer's message when pressed."""

    title: str
    payload: str


@dataclass(frozen=True, slots=True)
class Attachment:
    """Non-text content in a customer message: a photo, a document, a voice note, a location.

    ``file_id`` is the platform's reference to fetch the file later; the bytes are not kept.
    ``details`` holds what does not fit the other fields (a location's coordinates).
    """

    kind: str
    file_id: str | None = None
    file_name: str | None = None
    mime_type: str | None = None
    size: int | None = None
    details: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One customer message, platform-independent.

    ``conversation_key`` identifies the conversation within the channel (a Telegram
    chat id, a Slack channel+thread, a web chat session); ``message_id`` is the
    platform's id, used to drop redeliveries. ``payload`` is set when the customer
    pressed a button (then ``text`` is the button's title). ``attachments`` carries
    non-text content; ``text`` is then its caption, or empty. ``album`` is the
    platform's id for items sent together (a Telegram media group): each item is its
    own message, but the customer sent one thing.
    """

    channel: str
    conversation_key: str
    user_id: str
    text: str
    message_id: str
    user_name: str | None = None
    language_hint: str | None = None
    payload: str | None = None
    attachments: tuple[Attachment, ...] = ()
    album: str | None = None
    subject: str | None = None
    """What the customer wrote it under, where the platform has that (a mail's Subject)."""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One reply to a customer; channels that cannot render buttons number them."""

    text: str
    buttons: tuple[Button, ...] = ()
    sender: str = "bot"
    sender_name: str | None = field(default=None, compare=False)
    """Who wrote it, as the customer may see it: the agent's name on an agent's reply
    (a label, like ``reply_id`` not part of what the reply says)."""
    reply_id: str | None = field(default=None, compare=False)
    """Our id for this reply (its outbox row), set when it is sent: a client that may get
    it twice (a resend after a crash) shows it once, as platforms do with their own ids."""


def buttons_as_text(message: OutboundMessage, prompt: str) -> str:
    """Plain-text fallback for buttons: numbered options the customer can answer with."""
    if not message.buttons:
        return message.text
    options = "\n".join(f"{i}. {b.title}" for i, b in enumerate(message.buttons, start=1))
    return f"{message.text}\n{options}\n{prompt}"


def pick_numbered_button(text: str, offered: tuple[Button, ...]) -> Button | None:
    """Map a reply like ``"2"`` back to the second offered button, if it is one."""
    stripped = text.strip().rstrip(".")
    if stripped.isdigit():
        index = int(stripped) - 1
        if 0 <= index < len(offered):
            return offered[index]
    return None
