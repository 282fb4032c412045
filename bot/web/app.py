"""Builds the Starlette app from the running helpdesk's parts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from bot.channels.webchat import WebChatChannel
from bot.engine import Engine
from bot.web.webchat import chat_socket

STATIC = Path(__file__).parent / "static"

Readiness = Callable[[], Awaitable[dict[str, object]]]


def create_web_app(
    *,
    engine: Engine,
    webchat: WebChatChannel | None,
    readiness: Readiness,
    lifespan: object = None,
) -> Starlette:
    async def index(_: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def healthz(_: Request) -> Response:
        state = await readiness()
        return JSONResponse(state, status_code=200 if state.get("ready") else 503)

    async def socket(websocket: WebSocket) -> None:
        assert webchat is not None
        await chat_socket(websocket, webchat, engine)

    routes: list[Route | WebSocketRoute | Mount] = [Route("/healthz", healthz)]
    if webchat is not None:
        routes += [
            Route("/", index),
            WebSocketRoute("/ws/chat", socket),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]
    return Starlette(routes=routes, lifespan=lifespan)  # type: ignore[arg-type]
