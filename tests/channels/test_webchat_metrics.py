"""Web chat messages are counted and timed like every other channel's.

The channels are started with ``metered_receive(engine.receive)`` (``Helpdesk.start``);
the web chat socket must hand its messages to that callback, not to the engine directly,
or ``/metrics`` misses every web chat turn.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from bot.channels import ChannelRegistry
from bot.channels.webchat import WebChatChannel
from bot.engine.pipeline import Engine
from bot.i18n import Catalogue
from bot.knowledge.loader import LiveKnowledgeBase
from bot.reports.metrics import REGISTRY, metered_receive
from bot.storage.database import Database
from bot.web.app import create_web_app
from tests.conftest import TEST_KB, engine_options
from tests.support.desk import ScriptedNlu
from tests.support.server import serve


def counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def frame(ws: ClientConnection) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(await ws.recv(decode=True))
    return data


@pytest.fixture
async def address(db: Database) -> AsyncIterator[str]:
    """The web app on a real socket, its web chat channel started as ``Helpdesk.start`` does."""
    channel = WebChatChannel()
    registry = ChannelRegistry()
    registry.add(channel)
    engine = Engine(
        db=db,
        nlu=ScriptedNlu(),
        kb=LiveKnowledgeBase(TEST_KB, default_language="en"),
        catalogue=Catalogue.load(default_language="en"),
        channels=registry,
        options=engine_options(),
    )
    await channel.start(metered_receive(engine.receive))

    async def readiness() -> dict[str, object]:
        return {"ready": True}

    app = create_web_app(engine=engine, webchat=channel, readiness=readiness)
    async with serve(app) as running:
        yield running


async def test_a_web_chat_turn_is_counted_and_timed(address: str) -> None:
    before = {
        direction: counted("helpdesk_messages_total", channel="webchat", direction=direction)
        for direction in ("in", "out")
    }
    turns = counted("helpdesk_turn_seconds_count", channel="webchat")
    async with connect(f"ws://{address}/ws/chat?session=metered-session-1") as ws:
        assert (await frame(ws))["type"] == "history"
        for number, text in enumerate(("hello", "where is my order", "thanks"), start=1):
            await ws.send(json.dumps({"type": "message", "id": f"m-{number}", "text": text}))
            assert await frame(ws) == {"type": "ack", "id": f"m-{number}"}
            assert (await frame(ws))["type"] == "message"
    # A message is counted before it is stored, so before its ack. The socket reads the
    # next message only once the turn before it returned: at the third ack the first two
    # turns were counted and timed (the third may still be finishing).
    assert counted("helpdesk_messages_total", channel="webchat", direction="in") == (
        before["in"] + 3
    )
    assert counted("helpdesk_messages_total", channel="webchat", direction="out") >= (
        before["out"] + 2
    )
    assert counted("helpdesk_turn_seconds_count", channel="webchat") >= turns + 2
