"""The console's live channel: desk events out, heartbeats in, over one WebSocket per page.

Only a logged-in agent from our own origin gets one (browsers send ``Origin`` on
WebSocket handshakes; checking it stops other sites from opening sockets with the
agent's cookie). A heartbeat keeps the agent counted as online and re-checks the
login, so a logout elsewhere closes the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable

from starlette.websockets import WebSocket, WebSocketDisconnect

from bot.events import DeskEvents, Subscription
from bot.web.console.auth import Login, Sessions, same_origin

POLICY_VIOLATION = 1008
LOGGED_OUT = 4401

Heartbeat = Callable[[int], Awaitable[None]]
"""Keep an agent (by id) counted as present: the desk's ``heartbeat``."""


async def live_socket(
    websocket: WebSocket, *, sessions: Sessions, events: DeskEvents, heartbeat: Heartbeat
) -> None:
    """Serve one console page's socket until it closes or its login ends."""
    login = await sessions.current(websocket)
    if login is None or not same_origin(websocket):
        await websocket.close(code=POLICY_VIOLATION)
        return
    await websocket.accept()
    await heartbeat(login.agent_id)
    async with events.subscribe() as subscription:
        await websocket.send_json({"kind": "hello", "agent": login.name})
        tasks = [
            asyncio.create_task(_push(websocket, subscription)),
            asyncio.create_task(_listen(websocket, sessions, heartbeat, login)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                    await task


async def _push(websocket: WebSocket, subscription: Subscription) -> None:
    async for event in subscription:
        await websocket.send_json(event.as_json())


async def _listen(
    websocket: WebSocket, sessions: Sessions, heartbeat: Heartbeat, login: Login
) -> None:
    while True:
        raw = await websocket.receive_text()
        try:
            frame = json.loads(raw)
        except ValueError:
            continue
        if isinstance(frame, dict) and frame.get("type") == "heartbeat":
            if await sessions.current(websocket) is None:
                await websocket.close(code=LOGGED_OUT)
                return
            await heartbeat(login.agent_id)
