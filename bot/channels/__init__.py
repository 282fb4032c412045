"""Channel adapters: platform payloads to and from :mod:`bot.messages`.

Channels never touch storage or intents; they hand inbound messages to the
callback they were given and send what the engine asks them to send. What they hand
over is bounded first (:func:`bounded`): text capped, names cut, nothing a database
column refuses.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Final, Protocol, runtime_checkable

from starlette.routing import BaseRoute

from bot.i18n import Catalogue
from bot.messages import Attachment, InboundMessage, OutboundMessage

OnStored = Callable[[], Awaitable[None]]


class OnMessage(Protocol):
    """Where a channel hands each inbound message: the one callback given to ``start``.

    In the running bot it is ``metered_receive(engine.receive)``. Every channel passes
    ``on_stored`` and every callback awaits it once the message is committed (or known
    to be a redelivery): the moment a channel may acknowledge it to the platform (a
    webhook's 200, a Socket Mode ack, the web chat's ``ack`` frame).
    """

    async def __call__(
        self, inbound: InboundMessage, *, on_stored: OnStored | None = None
    ) -> object: ...


class ChannelSendError(Exception):
    """The platform did not take the message; the outbox will retry it.

    ``permanent`` marks failures a retry cannot fix (chat deleted, bot blocked).
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class RecipientUnreachable(ChannelSendError):
    """The platform forbids writing to this person (they blocked the bot, left the chat).

    The engine marks the customer unreachable on this channel and stops sending to them;
    the history stays, and writing to the bot again makes them reachable.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class RecipientOffline(ChannelSendError):
    """Nobody is connected to receive it now (a closed browser tab): not a failure.

    The reply stays in the outbox, uncounted, until the recipient is back.
    """


@runtime_checkable
class Channel(Protocol):
    name: str

    async def start(self, on_message: OnMessage) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, conversation_key: str, message: OutboundMessage) -> str | None:
        """Deliver one message; return the platform's message id if it has one."""
        ...


@runtime_checkable
class WebhookChannel(Protocol):
    """A channel that also receives over HTTP (a webhook, an events endpoint).

    Its routes are mounted on the one ASGI app next to the web chat and the console.
    """

    def routes(self) -> list[BaseRoute]: ...


class ChannelRegistry:
    def __init__(self) -> None:
        self._channels: dict[str, Channel] = {}

    def add(self, channel: Channel) -> None:
        if channel.name in self._channels:
            raise ValueError(f"channel '{channel.name}' registered twice")
        self._channels[channel.name] = channel

    def get(self, name: str) -> Channel | None:
        return self._channels.get(name)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self._channels.values()))


# --- bounds at the edge ------------------------------------------------------------------

MAX_TEXT_CHARS: Final = 4096
"""The default of ``channels.max_text_chars``: Telegram's own limit for one message."""
STORED_SIZES: Final = {
    "conversation_key": 200,
    "user_id": 200,
    "message_id": 200,
    "user_name": 200,
    "payload": 500,
    "kind": 32,
    "file_id": 300,
    "file_name": 300,
    "mime_type": 120,
}
"""Column sizes (``bot/storage/models.py``) of what the engine stores from an inbound
message; channels may not import storage, so a test checks the two agree."""
STORED_INT_MAX: Final = 2**31 - 1  # an INTEGER column on PostgreSQL
LANGUAGE_HINT_CHARS: Final = 35  # the longest sensible BCP 47 tag
_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(text: str) -> str:
    """``text`` without what no database takes: NUL removed, lone surrogates as U+FFFD."""
    return _SURROGATE.sub("\ufffd", text.replace("\x00", ""))


@dataclass(frozen=True, slots=True)
class Bounded:
    """An inbound message made storable; ``original_chars`` is set when its text was cut."""

    inbound: InboundMessage
    original_chars: int | None = None


def bounded(inbound: InboundMessage, *, max_text_chars: int) -> Bounded | None:
    """The message as the engine may store it, or None when no platform could have sent it.

    Text longer than ``max_text_chars`` keeps its beginning (the channel tells the customer);
    a name longer than its column is cut. An id or a button payload that does not fit, or
    that needed cleaning, is not a real platform's: the message is ignored (None).
    """
    ids = {name: getattr(inbound, name) for name in ("conversation_key", "user_id", "message_id")}
    if any(not v or len(v) > STORED_SIZES[k] or storable(v) != v for k, v in ids.items()):
        return None
    payload = inbound.payload
    if payload is not None and (
        len(payload) > STORED_SIZES["payload"] or storable(payload) != payload
    ):
        return None
    text = storable(inbound.text)
    original = len(text) if len(text) > max_text_chars else None
    hint = inbound.language_hint
    fitted = replace(
        inbound,
        text=text[:max_text_chars].rstrip() if original else text,
        user_name=_cut(inbound.user_name, "user_name"),
        language_hint=storable(hint)[:LANGUAGE_HINT_CHARS] if hint else None,
        album=storable(inbound.album)[:200] if inbound.album else None,
        subject=storable(inbound.subject)[:300] or None if inbound.subject else None,
        attachments=tuple(_fitted(a) for a in inbound.attachments),
    )
    return Bounded(fitted, original)


def too_long_notice(catalogue: Catalogue, message: Bounded, *, max_text_chars: int) -> str:
    """What the customer is told when their text was cut: how long it was, what was kept."""
    hint = (message.inbound.language_hint or "").split("-")[0].lower()
    language = hint if catalogue.has(hint) else catalogue.default_language
    return catalogue.get(
        "message_too_long", language, length=message.original_chars, max=max_text_chars
    )


def _cut(value: str | None, column: str) -> str | None:
    return storable(value)[: STORED_SIZES[column]] or None if value else None


def _fitted(attachment: Attachment) -> Attachment:
    size = attachment.size
    return Attachment(
        kind=_cut(attachment.kind, "kind") or "unknown",
        file_id=_cut(attachment.file_id, "file_id"),
        file_name=_cut(attachment.file_name, "file_name"),
        mime_type=_cut(attachment.mime_type, "mime_type"),
        size=size if size is not None and 0 <= size <= STORED_INT_MAX else None,
        details=_plain(attachment.details, depth=0) or {},
    )


def _plain(value: Any, *, depth: int) -> Any:
    """A detail value fit for a JSON column: text cleaned and cut, numbers in range, at
    most 4 levels and 32 items per level (a poll's options, a venue's location)."""
    if isinstance(value, str):
        return storable(value)[:1000]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if abs(value) <= 2**53 else None
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if depth >= 4:
        return None
    if isinstance(value, dict):
        items = list(value.items())[:32]
        return {storable(str(k))[:64]: _plain(v, depth=depth + 1) for k, v in items}
    if isinstance(value, list | tuple):
        return [_plain(item, depth=depth + 1) for item in value[:32]]
    return None
