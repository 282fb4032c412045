"""The web chat widget's channel: JSON frames over a WebSocket per browser session.

Protocol (see ``bot/web/static/widget.js``): the browser sends ``message`` and
``button`` frames with its own ids (the dedupe key, so a re-send after a reconnect
is harmless); the server answers ``ack`` once the message is stored, then
``message`` frames with the replies, each with the id of its outbox row (a reply
resent after a crash has the same id, and the widget shows it once). A frame the
protocol does not allow gets an ``error`` frame and the socket stays open. A session
without an open socket keeps its replies in the outbox until the browser reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

from bot.channels import ChannelSendError, OnMessage, OnStored, RecipientOffline
from bot.channels.webchat_sites import Site, site_map
from bot.channels.webchat_uploads import UploadLimits
from bot.messages import Attachment, InboundMessage, OutboundMessage

log = logging.getLogger(__name__)

MAX_TEXT = 4000
"""The default cap on a message's text (``channels.webchat.max_text_chars``)."""
MAX_ID = 99
"""A frame id's length: with its session (up to 100) and ``/`` it fits the 200-character
column of platform message ids."""
MAX_PAYLOAD = 500
"""A button's payload is stored in a 500-character column."""
UPLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
"""An upload's id (``/webchat/upload``) as a ``message`` frame's ``attachment`` names it."""


class Socket(Protocol):
    async def send_json(self, data: Any, mode: str = "text") -> None: ...


class FrameError(ValueError):
    """A frame the widget protocol does not allow; the socket reports it and stays open."""


def storable(value: str) -> bool:
    """Text every database keeps as sent: no NUL (PostgreSQL refuses it) and no lone
    surrogate (not Unicode text; JSON's ``\\ud800`` escapes can carry one)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def to_inbound(
    session: str, frame: Any, *, language_hint: str | None, max_text: int = MAX_TEXT
) -> InboundMessage:
    """The message a ``message`` or ``button`` frame carries; :class:`FrameError` says why not."""
    if not isinstance(frame, dict):
        raise FrameError("a frame must be a JSON object")
    kind = frame.get("type")
    frame_id = frame.get("id")
    if kind not in ("message", "button"):
        raise FrameError(f"unknown frame type {kind!r}")
    if not isinstance(frame_id, str) or not 0 < len(frame_id) <= MAX_ID or not storable(frame_id):
        raise FrameError(f"a frame needs an 'id' string of 1 to {MAX_ID} characters")
    attachments: tuple[Attachment, ...] = ()
    if kind == "message":
        text = frame.get("text", "")
        upload = frame.get("attachment")
        if upload is not None:
            if not isinstance(upload, str) or not UPLOAD_ID.match(upload):
                raise FrameError("'attachment' must be the id /webchat/upload answered")
            # The socket checks that this session uploaded it, and fills in the rest.
            attachments = (Attachment(kind="upload", file_id=upload),)
        if not isinstance(text, str) or not (text.strip() or attachments):
            raise FrameError("a message needs non-empty 'text'")
        payload = None
    else:
        payload = frame.get("payload")
        text = frame.get("title") or payload
        if not isinstance(payload, str) or not payload or not isinstance(text, str):
            raise FrameError("a button frame needs 'payload' and 'title' strings")
        if len(payload) > MAX_PAYLOAD or not storable(payload):
            raise FrameError(f"a button's payload is at most {MAX_PAYLOAD} plain characters")
    if len(text) > max_text:
        raise FrameError(f"message longer than {max_text} characters: please shorten it")
    if not storable(text):
        raise FrameError(
            "the message contains characters that are not text (NUL, a lone surrogate)"
        )
    return InboundMessage(
        channel=WebChatChannel.name,
        conversation_key=session,
        user_id=session,
        text=text.strip(),
        payload=payload,
        message_id=platform_id(session, frame_id),
        language_hint=language_hint,
        attachments=attachments,
        raw=frame,
    )


def platform_id(session: str, frame_id: str) -> str:
    """The stored id of a browser's message: the dedupe key is per session, since each
    browser picks its own ids (another session's id must not drop this message)."""
    return f"{session}/{frame_id}"


def frame_id_of(session: str, stored_id: str) -> str:
    """The browser's own id of a stored message (older rows were stored without prefix)."""
    return stored_id.removeprefix(f"{session}/")


def to_frame(message: OutboundMessage) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "message",
        "text": message.text,
        "buttons": [{"title": b.title, "payload": b.payload} for b in message.buttons],
    }
    if message.reply_id:
        frame["id"] = message.reply_id  # the outbox row's: the same when resent
    if message.sender != "bot":
        frame["sender"] = message.sender_name or message.sender
    return frame


class WebChatChannel:
    """Holds the open sockets of each browser session; the ASGI route feeds it.

    The socket (``bot.web.webchat``) hands each message to :meth:`receive`, which passes
    it to the callback given to :meth:`start`, as every channel does: the running bot's
    is ``metered_receive(engine.receive)``, so web chat turns are counted and timed too.
    """

    name = "webchat"

    def __init__(
        self,
        *,
        max_text_chars: int = MAX_TEXT,
        allowed_origins: Sequence[str] = (),
        sites: Iterable[Site] = (),
        uploads: UploadLimits | None = None,
    ) -> None:
        self.max_text_chars = max_text_chars
        self.uploads = uploads or UploadLimits()
        """What the widget may send as files (``channels.webchat.uploads``)."""
        self.allowed_origins = tuple(allowed_origins)
        """Pages of other sites that may open the chat socket (``channels.webchat``)."""
        self.sites = site_map(sites)
        """The sites that embed the chat with the snippet, by key (``channels.webchat.sites``)."""
        self._sockets: dict[str, set[Socket]] = {}
        self._on_message: OnMessage | None = None
        self._started = asyncio.Event()

    def origin_allowed(
        self, origin: str | None, *, host: str | None, site: Site | None = None
    ) -> bool:
        """A browser's ``Origin``: the bot's own page (same host) or a configured site.

        No ``Origin`` at all is not a browser (they always send one on a WebSocket), so a
        page of another site cannot ride a customer's browser into the chat this way.
        A chat opened under a site key answers to that site's origins only.
        """
        if site is not None:
            return site.allows(origin, host=host)
        if origin is None or "*" in self.allowed_origins:
            return True
        if origin.rstrip("/") in self.allowed_origins:
            return True
        return host is not None and urlsplit(origin).netloc == host

    async def start(self, on_message: OnMessage) -> None:
        self._on_message = on_message
        self._started.set()

    async def stop(self) -> None:
        self._sockets.clear()

    def attach(self, session: str, socket: Socket) -> None:
        self._sockets.setdefault(session, set()).add(socket)

    def detach(self, session: str, socket: Socket) -> None:
        sockets = self._sockets.get(session)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self._sockets[session]

    def connected(self, session: str) -> bool:
        return bool(self._sockets.get(session))

    async def receive(self, inbound: InboundMessage, *, on_stored: OnStored | None = None) -> None:
        """Hand one browser message to the callback; ``on_stored`` acknowledges it.

        A message that arrives before the channel started (the web app serves while the
        NLU server loads) waits for the start, unacknowledged, as a platform's would.
        """
        await self._started.wait()
        assert self._on_message is not None
        await self._on_message(inbound, on_stored=on_stored)

    async def send(self, conversation_key: str, message: OutboundMessage) -> str | None:
        sockets = list(self._sockets.get(conversation_key, ()))
        if not sockets:
            raise RecipientOffline(f"web chat session {conversation_key[:8]}… is not connected")
        frame = to_frame(message)
        delivered = 0
        for socket in sockets:
            try:
                await socket.send_json(frame)
                delivered += 1
            except Exception as exc:  # a tab closed mid-send; others may still be open
                log.info("web chat socket send failed: %s", exc)
                self.detach(conversation_key, socket)
        if not delivered:
            raise ChannelSendError("web chat socket closed before the reply was sent")
        return None
