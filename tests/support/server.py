"""Run an ASGI app on a real socket on 127.0.0.1 for the duration of a test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from bot.nlu.rasa_server import free_port
from tests.support.waiting import wait_until


@asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    # uvicorn signals no event when it listens; its ``started`` flag is all there is.
    await wait_until(lambda: server.started or task.done(), within=10, what="uvicorn listening")
    if not server.started:
        task.result()  # raises what stopped it
        raise RuntimeError("uvicorn stopped before it started")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
