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
from typing import TYPE_CHECKING

from starlette.websockets import WebSocket, WebSocketDisconnect

from bot.events import Subscription
from bot.web.console.auth import Login, same_origin

if TYPE_CHECKING:
    from bot.web.console import Console

POLICY_VIOLATION = 1008
LOGGED_OUT = 4401


async def live_socket(websocket: WebSocket, console: Console) -> None:
    login = await console.sessions.current(websocket)
    if login is None or not same_origin(websocket):
        await websocket.close(code=POLICY_VIOLATION)
        return
    await websocket.accept()
    await console.desk.heartbeat(login.agent_id)
    async with console.desk.events.subscribe() as subscription:
        await websocket.send_json({"kind": "hello", "agent": login.name})
        tasks = [
            asyncio.create_task(_push(websocket, subscription)),
            asyncio.create_task(_listen(websocket, console, login)),
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


async def _listen(websocket: WebSocket, console: Console, login: Login) -> None:
    while True:
        raw = await websocket.receive_text()
        try:
            frame = json.loads(raw)
        except ValueError:
            continue
        if isinstance(frame, dict) and frame.get("type") == "heartbeat":
            if await console.sessions.current(websocket) is None:
                await websocket.close(code=LOGGED_OUT)
                return
            await console.desk.heartbeat(login.agent_id)
