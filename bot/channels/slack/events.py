"""Inbound Slack payloads, pure: Events API events and button presses to InboundMessage.

Conversation keys (what ``SlackChannel.send`` maps back to a place to post):

- a direct message with the app: the DM's channel id, ``D0123ABCD``; replies go
  to the DM itself;
- a mention in a channel: channel id and thread root, ``C0123ABCD:1712345678.000100``;
  replies go to that thread (the mention's own ``ts`` when it was not in a thread).

Message ids (the engine's dedupe key) are ``<channel>:<ts>`` of the customer's
message: stable across Slack's retries, and the same whether the message arrived
as ``message.im`` or ``app_mention``. A button press is ``<channel>:<ts>:choice``
of the message holding the buttons, so a message's buttons are answered once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, TypeGuard

from bot.channels.slack.format import ACTION_PREFIX
from bot.messages import Attachment, Button, InboundMessage, pick_numbered_button

CHANNEL = "slack"
ACCEPTED_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})
"""Message subtypes a person typed; edits, deletions, joins and bot posts are not."""

_MARKUP = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")


@dataclass(frozen=True, slots=True)
class SlackProfile:
    """What ``users.info`` tells about a person: the name to show and their locale."""

    name: str | None
    locale: str | None


def conversation_key(channel: str, thread_ts: str | None = None) -> str:
    return channel if thread_ts is None or is_direct(channel) else f"{channel}:{thread_ts}"


def parse_key(key: str) -> tuple[str, str | None]:
    """``(channel, thread_ts)`` for a conversation key; ``thread_ts`` is None for DMs."""
    channel, _, thread_ts = key.partition(":")
    return channel, thread_ts or None


def is_direct(channel: str) -> bool:
    # Slack's ids say what they are: D… is a direct message with the app.
    return channel.startswith("D")


def message_id(channel: str, ts: str) -> str:
    return f"{channel}:{ts}"


def plain_text(text: str, *, bot_user_id: str | None) -> str:
    """Slack's markup as a person would read it: mentions, channels and links spelled out.

    The mention of the bot itself is dropped (it addresses the bot, it is not the question).
    """

    def spell(match: re.Match[str]) -> str:
        target, label = match[1], match[2]
        if target.startswith("@"):
            return "" if target[1:] == bot_user_id else "@" + (label or target[1:])
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            return label or "@" + target[1:].split("^")[0]
        if label and label not in target:
            return f"{label} ({target})"
        return label or target

    spelled = _MARKUP.sub(spell, text)
    unescaped = spelled.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return re.sub(r"[ \t]{2,}", " ", unescaped).strip()


def to_inbound(
    event: dict[str, Any], *, bot_user_id: str | None, profile: SlackProfile | None = None
) -> InboundMessage | None:
    """A ``message.im`` or ``app_mention`` event as a customer message; None to ignore it.

    Ignored: other bots and the bot itself, edits and other subtypes, channel messages
    that arrive as plain ``message`` events (only mentions are for us), empty messages.
    """
    kind = event.get("type")
    if kind not in ("message", "app_mention"):
        return None
    if event.get("bot_id") or event.get("subtype") not in ACCEPTED_SUBTYPES:
        return None
    user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
    if not (isinstance(user, str) and isinstance(channel, str) and isinstance(ts, str)):
        return None
    if user == bot_user_id:
        return None
    if kind == "message" and event.get("channel_type") != "im":
        return None
    thread = event.get("thread_ts")
    key = conversation_key(channel, thread if isinstance(thread, str) else ts)
    text = plain_text(str(event.get("text") or ""), bot_user_id=bot_user_id)
    files = event.get("files")
    attachments = tuple(_attachment(f) for f in files if isinstance(f, dict)) if files else ()
    if not text and not attachments:
        return None
    return InboundMessage(
        channel=CHANNEL,
        conversation_key=key,
        user_id=user,
        text=text,
        message_id=message_id(channel, ts),
        user_name=profile.name if profile else None,
        language_hint=profile.locale if profile else None,
        attachments=attachments,
        raw=event,
    )


def _attachment(file: dict[str, Any]) -> Attachment:
    mime = file.get("mimetype")
    major = mime.split("/")[0] if isinstance(mime, str) else ""
    kind = {"image": "photo", "audio": "audio", "video": "video"}.get(major, "document")
    size = file.get("size")
    return Attachment(
        kind=kind,
        file_id=file.get("id"),
        file_name=file.get("name"),
        mime_type=mime if isinstance(mime, str) else None,
        size=size if isinstance(size, int) else None,
        details={"filetype": file.get("filetype")} if file.get("filetype") else {},
    )


def action_to_inbound(
    body: dict[str, Any], *, profile: SlackProfile | None = None
) -> InboundMessage | None:
    """A press on one of our buttons (``block_actions``) as the customer's choice."""
    if body.get("type") != "block_actions":
        return None
    actions = body.get("actions")
    action = next(
        (
            a
            for a in (actions if isinstance(actions, list) else [])
            if isinstance(a, dict) and str(a.get("action_id", "")).startswith(ACTION_PREFIX)
        ),
        None,
    )
    user, container, message = _obj(body, "user"), _obj(body, "container"), _obj(body, "message")
    user_id = user.get("id")
    channel = _obj(body, "channel").get("id") or container.get("channel_id")
    ts = message.get("ts") or container.get("message_ts")
    payload = action.get("value") if action else None
    title = _obj(action, "text").get("text") if action else None
    if not (_text(user_id) and _text(channel) and _text(ts) and _text(payload)):
        return None
    thread = message.get("thread_ts") or container.get("thread_ts")
    name = user.get("name")
    return InboundMessage(
        channel=CHANNEL,
        conversation_key=conversation_key(channel, thread if _text(thread) else ts),
        user_id=user_id,
        text=title if _text(title) else payload,
        payload=payload,
        message_id=f"{message_id(channel, ts)}:choice",
        user_name=profile.name if profile else name if _text(name) else None,
        language_hint=profile.locale if profile else None,
        raw=body,
    )


def _obj(data: dict[str, Any], key: str) -> dict[str, Any]:
    """``data[key]`` when it is an object, else empty: payload fields are not trusted."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _text(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value)


def with_offered_choice(inbound: InboundMessage, offered: tuple[Button, ...]) -> InboundMessage:
    """``"2"`` typed after a reply with buttons means the second button (text-only clients)."""
    if inbound.payload is not None or not offered:
        return inbound
    button = pick_numbered_button(inbound.text, offered)
    if button is None:
        return inbound
    return replace(inbound, text=button.title, payload=button.payload)


def profile_from(user: dict[str, Any]) -> SlackProfile:
    """The display name and locale in a ``users.info`` user object."""
    profile = user.get("profile") or {}
    name = (
        profile.get("display_name")
        or profile.get("real_name")
        or user.get("real_name")
        or user.get("name")
    )
    locale = user.get("locale")
    return SlackProfile(
        name=name if isinstance(name, str) else None,
        locale=locale if isinstance(locale, str) else None,
    )
