"""The web chat WebSocket route: frames in, handed to the web chat channel, replies out.

Each message goes to :meth:`WebChatChannel.receive`, so it reaches the engine through
the callback the channel was started with, as every channel's messages do (counted and
timed for ``/metrics``). The engine is used here only for the session's history and
for sending replies that waited in the outbox while the browser was away.
"""

from __future__ import annotations

import json
import logging
import re

from starlette.websockets import WebSocket, WebSocketDisconnect

from bot.channels.webchat import FrameError, WebChatChannel, to_inbound
from bot.engine.pipeline import Engine
from bot.storage.models import Delivery, Direction

log = logging.getLogger(__name__)

SESSION = re.compile(r"^[A-Za-z0-9_-]{8,100}$")
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


async def chat_socket(websocket: WebSocket, channel: WebChatChannel, engine: Engine) -> None:
    session = websocket.query_params.get("session", "")
    if not SESSION.match(session):
        # 1008: policy violation; the widget always sends a well-formed session id.
        await websocket.close(code=1008, reason="missing or malformed session id")
        return
    lang = websocket.query_params.get("lang")
    hint = lang if lang and LANGUAGE.match(lang) else None
    await websocket.accept()
    channel.attach(session, websocket)
    try:
        await websocket.send_json({"type": "history", "messages": await _history(engine, session)})
        await engine.flush_outbox(channel=channel.name, conversation_key=session)
        while True:
            raw = await websocket.receive_text()
            try:
                frame = json.loads(raw)
                inbound = to_inbound(session, frame, language_hint=hint)
            except (ValueError, FrameError) as exc:
                await websocket.send_json({"type": "error", "message": str(exc)})
                continue

            async def acknowledge(frame_id: str = inbound.message_id) -> None:
                await websocket.send_json({"type": "ack", "id": frame_id})

            await channel.receive(inbound, on_stored=acknowledge)
    except WebSocketDisconnect:
        pass
    finally:
        channel.detach(session, websocket)


async def _history(engine: Engine, session: str) -> list[dict[str, object]]:
    rows = await engine.transcript(channel=WebChatChannel.name, conversation_key=session)
    history: list[dict[str, object]] = []
    for row in rows:
        if row.direction == Direction.OUT and row.delivery != Delivery.SENT:
            continue  # pending replies follow as live messages from the outbox
        item: dict[str, object] = {
            "direction": row.direction.value,
            "text": row.text,
            "buttons": row.buttons or [],
        }
        if row.direction == Direction.IN and row.platform_message_id:
            # The widget matches these to its unacknowledged bubbles after a reconnect.
            item["id"] = row.platform_message_id
        history.append(item)
    return history
