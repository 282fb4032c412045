"""The web chat WebSocket route: frames in, handed to the web chat channel, replies out.

Each message goes to :meth:`WebChatChannel.receive`, so it reaches the engine through
the callback the channel was started with, as every channel's messages do (counted and
timed for ``/metrics``). The engine is used here only for the session's history and
for sending replies that waited in the outbox while the browser was away.

Anyone can reach this socket, so every frame is bounded before it is read: a page of
another site is refused at the handshake (``Origin``), a binary frame, an oversized
frame, JSON nested past the parser's limit or a frame the protocol does not allow gets
an ``error`` frame, and the socket stays open for the next one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import re
import time
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from bot.channels import ChannelSendError
from bot.channels.webchat import (
    MAX_ID,
    FrameError,
    WebChatChannel,
    frame_id_of,
    storable,
    to_inbound,
)
from bot.channels.webchat_identity import identity_of
from bot.channels.webchat_sites import Site
from bot.customers import CustomerDirectory, IdentityConflict, Known
from bot.customers.linking import LinkCodes
from bot.engine.pipeline import Engine
from bot.messages import Attachment, Button, InboundMessage, OutboundMessage
from bot.storage.agent_desk import HistoryRepository
from bot.storage.attachment_files import AttachmentFileStore
from bot.storage.models import Delivery, Direction
from bot.storage.notices import NoticeStore
from bot.storage.repositories import ConversationRepository, MessageRepository
from bot.web.webchat_links import (
    ChatTaken,
    error_frame,
    identity_frame,
    link_frame,
    reply_language,
)

log = logging.getLogger(__name__)

SESSION = re.compile(r"^[A-Za-z0-9_-]{8,100}$")
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
ESCAPED_CHAR = 6
"""JSON may spell one character as ``\\uXXXX``: a frame is at most this many times the
longest text, plus room for the rest of the frame."""
FRAME_OVERHEAD = 2048


async def chat_socket(
    websocket: WebSocket,
    channel: WebChatChannel,
    engine: Engine,
    links: LinkCodes | None = None,
) -> None:
    """``links``: link codes for verified customers ("continue on Telegram"), if any."""
    session = websocket.query_params.get("session", "")
    if not SESSION.match(session):
        # 1008: policy violation; the widget always sends a well-formed session id.
        await websocket.close(code=1008, reason="missing or malformed session id")
        return
    site_key = websocket.query_params.get("site")
    site = channel.sites.get(site_key) if site_key is not None else None
    if site_key is not None and site is None:
        await websocket.close(code=1008, reason="unknown site key")
        return
    if not channel.origin_allowed(
        websocket.headers.get("origin"), host=websocket.headers.get("host"), site=site
    ):
        # Before accepting: the handshake is refused (HTTP 403), no socket opens.
        await websocket.close(code=1008, reason="this site may not open the chat")
        return
    directory = CustomerDirectory(engine.db)
    catalogue = engine.catalogue
    known: Known | None = None  # whom the session speaks for, once it identified
    lang = websocket.query_params.get("lang")
    hint = lang if lang and LANGUAGE.match(lang) else None
    await websocket.accept()
    max_frame = channel.max_text_chars * ESCAPED_CHAR + FRAME_OVERHEAD
    try:
        await websocket.send_json({"type": "history", "messages": await _history(engine, session)})
        # Attached only now: a reply sent before the history frame would be wiped from
        # the widget's log by it. One made meanwhile waits in the outbox, sent just below.
        channel.attach(session, websocket)
        await engine.flush_outbox(channel=channel.name, conversation_key=session)
        while True:
            received = await websocket.receive()
            if received["type"] == "websocket.disconnect":
                break
            raw = received.get("text")
            frame: Any = None
            try:
                if raw is None:
                    raise FrameError("binary frames are not part of the chat: send JSON text")
                if len(raw) > max_frame:
                    raise FrameError(f"frame longer than {max_frame} characters")
                frame = _parse(raw)
                if isinstance(frame, dict) and frame.get("type") == "identify":
                    known = await _identify(directory, site, session, frame)
                    if known.verified and known.language:
                        hint = known.language  # the shop knows the customer's language
                    language = reply_language(catalogue, hint)
                    await websocket.send_json(identity_frame(known, links, catalogue, language))
                    if known.verified:
                        await _catch_up(engine, channel, session, known.customer_id)
                    continue
                if isinstance(frame, dict) and frame.get("type") == "link":
                    answer = await link_frame(
                        frame,
                        known=known,
                        links=links,
                        catalogue=catalogue,
                        language=reply_language(catalogue, hint),
                        brand=engine.options.brand,
                    )
                    await websocket.send_json(answer)
                    continue
                inbound = to_inbound(
                    session, frame, language_hint=hint, max_text=channel.max_text_chars
                )
                if inbound.attachments:
                    inbound = await _uploaded(engine, channel, session, inbound)
            except FrameError as exc:
                error = error_frame(exc, catalogue, reply_language(catalogue, hint))
                refused = frame.get("id") if raw is not None and isinstance(frame, dict) else None
                if isinstance(refused, str) and len(refused) <= MAX_ID and storable(refused):
                    error["id"] = refused  # the widget stops re-sending that one
                await websocket.send_json(error)
                continue

            async def acknowledge(frame_id: str = frame_id_of(session, inbound.message_id)) -> None:
                await websocket.send_json({"type": "ack", "id": frame_id})

            try:
                await channel.receive(inbound, on_stored=acknowledge)
            except WebSocketDisconnect:
                raise
            except Exception:  # stored or not, the browser re-sends what was not acked
                log.exception("web chat message %s failed", inbound.message_id)
                await websocket.send_json(
                    {"type": "error", "message": "your message could not be handled now"}
                )
    except WebSocketDisconnect:
        pass
    except Exception:  # a bug here: close with a code rather than drop the connection
        log.exception("web chat socket of session %s failed", session[:8])
        with contextlib.suppress(Exception):
            await websocket.close(code=1011, reason="internal error")
    finally:
        channel.detach(session, websocket)


async def _identify(
    directory: CustomerDirectory, site: Site | None, session: str, frame: dict[str, Any]
) -> Known:
    """Who this session speaks for, from the page's ``identify`` frame.

    A signature that does not verify (forged, expired, for another secret) is refused
    with an error frame and the session stays as it was: anonymous, or unverified.
    """
    identity = identity_of(frame, secret=site.secret if site else None, now=time.time())
    try:
        known = await directory.identify(
            namespace=site.key if site else WebChatChannel.name,
            channel=WebChatChannel.name,
            user_id=session,
            identity=identity,
        )
    except IdentityConflict as exc:
        raise ChatTaken(str(exc)) from None
    return known


async def _catch_up(
    engine: Engine, channel: WebChatChannel, session: str, customer_id: int
) -> None:
    """A verified customer back on another device (another session): the replies that
    waited for their other sessions, such as a ticket's update after they left, are shown
    here and count as delivered. Only the shop's signature links sessions, so nobody sees
    another person's replies by claiming their name or email."""
    async with engine.db.transaction() as db:
        here = await ConversationRepository(db).find(channel=channel.name, conversation_key=session)
        rows = await NoticeStore(db).waiting_for_customer(
            customer_id, channel=channel.name, except_conversation=here.id if here else 0
        )
        ids = {row.agent_id for row in rows if row.agent_id is not None}
        agents = await HistoryRepository(db).agent_names(ids) if ids else {}
    sent: list[tuple[int, str | None]] = []
    for row in rows:
        reply = OutboundMessage(
            row.text,
            buttons=tuple(Button(b["title"], b["payload"]) for b in row.buttons or []),
            sender=row.sender,
            sender_name=agents.get(row.agent_id or 0),
            reply_id=str(row.id),
        )
        try:
            await channel.send(session, reply)
        except ChannelSendError:
            break  # the socket went away: the rest wait in the outbox as before
        sent.append((row.id, None))
    if sent:
        async with engine.db.transaction() as db:
            await MessageRepository(db).mark_all_sent(sent)


async def _uploaded(
    engine: Engine, channel: WebChatChannel, session: str, inbound: InboundMessage
) -> InboundMessage:
    """The message with its uploads described as stored; an id this session did not
    upload (another chat's, made up) is refused, so nobody sends someone else's file."""
    found: list[Attachment] = []
    async with engine.db.transaction() as db:
        store = AttachmentFileStore(db)
        for item in inbound.attachments:
            row = await store.owned(
                item.file_id or "", channel=channel.name, conversation_key=session
            )
            if row is None:
                raise FrameError("no such upload in this chat: upload the file first")
            found.append(
                Attachment(
                    kind="photo" if row.mime_type.startswith("image/") else "document",
                    file_id=row.id,
                    file_name=row.file_name,
                    mime_type=row.mime_type,
                    size=row.size_bytes,
                    details={"stored": True},
                )
            )
    return dataclasses.replace(inbound, attachments=tuple(found))


def _parse(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise FrameError(f"not JSON: {exc}") from None
    except RecursionError:
        raise FrameError("JSON nested too deeply") from None


async def _history(engine: Engine, session: str) -> list[dict[str, object]]:
    rows = await engine.transcript(channel=WebChatChannel.name, conversation_key=session)
    # Agents' replies are shown under the agent's name, as they were live.
    agents: dict[int, str] = {}
    agent_ids = {row.agent_id for row in rows if row.agent_id is not None}
    if agent_ids:
        async with engine.db.transaction() as db_session:
            agents = await HistoryRepository(db_session).agent_names(agent_ids)
    files: dict[int, list[dict[str, str]]] = {}
    if rows:  # one conversation's: the files the customer sent, by their name only
        async with engine.db.transaction() as db_session:
            for sent in await MessageRepository(db_session).attachments(rows[0].conversation_id):
                name = sent.file_name or sent.kind
                files.setdefault(sent.message_id, []).append({"name": name, "kind": sent.kind})
    history: list[dict[str, object]] = []
    for row in rows:
        if row.direction == Direction.OUT and row.delivery != Delivery.SENT:
            continue  # pending replies follow as live messages from the outbox
        item: dict[str, object] = {
            "direction": row.direction.value,
            "text": row.text,
            "buttons": row.buttons or [],
        }
        if row.direction == Direction.IN and row.id in files:
            item["files"] = files[row.id]
        if row.direction == Direction.IN and row.platform_message_id:
            # The widget matches these to its unacknowledged bubbles after a reconnect.
            item["id"] = frame_id_of(session, row.platform_message_id)
        elif row.direction == Direction.OUT:
            item["id"] = str(row.id)  # as its live frame had it: the widget shows it once
            if row.sender != "bot":
                item["sender"] = agents.get(row.agent_id or 0, row.sender)
        history.append(item)
    return history
