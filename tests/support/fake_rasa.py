"""A small real HTTP server that speaks Rasa's NLU endpoints, for a second replica in tests.

It answers ``GET /``, ``GET /status`` (409 while no model is loaded, as Rasa does),
``POST /model/parse`` (always the same intent, so a test can tell which replica answered)
and ``PUT /model`` (it records the path and then reports that file as served). It checks
the auth token like Rasa. It can be stopped and started again on the same port, as a
replica that died and came back.
"""

from __future__ import annotations

import asyncio
from pathlib import PurePath

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.nlu.rasa_server import free_port
from tests.support.waiting import wait_until

INTENT = "fake_replica"
"""The intent every parse of the fake replica answers with."""


class FakeRasa:
    """A Rasa look-alike on 127.0.0.1 with its own port, kept across restarts."""

    def __init__(self, *, token: str | None, model_file: str | None = "nlu-old.tar.gz") -> None:
        self.token = token
        self.model_file = model_file
        self.port = free_port()
        self.parses: list[str] = []
        self.loads: list[str] = []
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/", self._hello),
                Route("/status", self._status),
                Route("/model/parse", self._parse, methods=["POST"]),
                Route("/model", self._load, methods=["PUT"]),
            ]
        )

    def _refused(self, request: Request) -> Response | None:
        if self.token is not None and request.query_params.get("token") != self.token:
            return JSONResponse({"status": "failure", "reason": "NotAuthenticated"}, 401)
        return None

    async def _hello(self, request: Request) -> Response:
        return PlainTextResponse("Hello from Rasa: 3.6.21")

    async def _status(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        if self.model_file is None:
            return JSONResponse({"status": "failure", "reason": "NoAgent"}, 409)
        return JSONResponse({"model_file": self.model_file, "model_id": "fake"})

    async def _parse(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        if self.model_file is None:
            return JSONResponse({"status": "failure", "reason": "NoAgent"}, 409)
        text = str((await request.json())["text"])
        self.parses.append(text)
        intent = {"name": INTENT, "confidence": 0.99}
        return JSONResponse(
            {"text": text, "intent": intent, "intent_ranking": [intent], "entities": []}
        )

    async def _load(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        path = str((await request.json())["model_file"])
        self.loads.append(path)
        self.model_file = PurePath(path).name
        return Response(status_code=204)

    async def start(self) -> None:
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app(), host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
            )
        )
        server = self._server
        self._task = asyncio.create_task(server.serve())
        task = self._task
        await wait_until(lambda: server.started or task.done(), within=10, what="fake rasa up")
        if not server.started:
            task.result()
            raise RuntimeError("the fake Rasa stopped before it started")

    async def stop(self) -> None:
        """Close the port, as a replica that died (connections are refused)."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        self._server = None
        self._task = None
