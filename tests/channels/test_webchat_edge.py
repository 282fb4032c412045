"""The web chat socket at its edge: what a browser (or anyone) may send it.

Every frame gets an answer: an ``ack`` once a message is stored, an ``error`` frame for
anything else (binary frames, bad JSON, deep nesting, text the database cannot hold, too
long), and the socket stays open; a handshake from a foreign page is refused. Replies
carry their outbox row's id, so a reply resent after a crash is recognised.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import update
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from bot.channels.webchat import WebChatChannel
from bot.engine.pipeline import Engine
from bot.storage.models import Delivery, Direction, Message

pytestmark = pytest.mark.rasa

SESSION = "edge-session-0001"


async def frame(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(await ws.recv(decode=True))  # type: ignore[no-any-return]


async def open_chat(address: str, **kwargs: Any) -> ClientConnection:
    ws = await connect(f"ws://{address}/ws/chat?session={SESSION}&lang=en", **kwargs)
    assert (await frame(ws))["type"] == "history"
    return ws


async def still_answers(ws: ClientConnection, frame_id: str) -> None:
    await ws.send(json.dumps({"type": "message", "id": frame_id, "text": "hello"}))
    assert await frame(ws) == {"type": "ack", "id": frame_id}
    assert (await frame(ws))["type"] == "message"


@pytest.mark.parametrize(
    "bad",
    [
        b"\x00\x01binary",  # a binary frame
        "[" * 100_000 + "]" * 100_000,  # nested far past the parser's recursion limit
        json.dumps({"type": "message", "id": "nul", "text": "a\x00b"}),  # PostgreSQL: no NUL
        '{"type": "message", "id": "lone", "text": "a\\ud800b"}',  # a lone surrogate
        json.dumps({"type": "message", "id": "long", "text": "x" * 4001}),
        json.dumps({"type": "button", "id": "big", "title": "ok", "payload": "/faq " + "x" * 600}),
        json.dumps({"type": "message", "id": "x" * 101, "text": "hi"}),
        '{"type": "message", "id": "a\\udc00", "text": "hi"}',  # a lone surrogate id
        json.dumps({"type": "message", "id": 7, "text": "hi"}),
    ],
    ids=["binary", "nested", "nul", "surrogate", "long", "payload", "id-long", "id-bad", "id-int"],
)
async def test_a_bad_frame_gets_an_error_frame_and_the_socket_stays(
    web: tuple[str, Engine], bad: str | bytes
) -> None:
    address, _ = web
    async with await open_chat(address) as ws:
        await ws.send(bad)
        error = await frame(ws)
        assert error["type"] == "error" and error["message"]
        await still_answers(ws, "after-bad")


async def test_a_refused_message_is_named_in_its_error_frame(web: tuple[str, Engine]) -> None:
    address, _ = web
    async with await open_chat(address) as ws:
        await ws.send(json.dumps({"type": "message", "id": "too-long", "text": "x" * 4001}))
        error = await frame(ws)
        assert error["id"] == "too-long"  # the widget stops re-sending it
        assert "4000" in error["message"]


async def test_a_reply_carries_its_outbox_id_and_a_resend_keeps_it(
    web: tuple[str, Engine],
) -> None:
    address, engine = web
    async with await open_chat(address) as ws:
        await ws.send(json.dumps({"type": "message", "id": "q-1", "text": "where is my order"}))
        await frame(ws)
        reply = await frame(ws)
    reply_id = reply["id"]
    async with engine.db.transaction() as session:
        row = await session.get(Message, int(reply_id))
        assert row is not None and row.direction == Direction.OUT and row.text == reply["text"]
        # A crash after the browser got it, before it was marked sent: it goes out again.
        await session.execute(
            update(Message).where(Message.id == row.id).values(delivery=Delivery.PENDING)
        )
    async with await open_chat(address) as ws:
        resent = await frame(ws)
        assert resent["id"] == reply_id and resent["text"] == reply["text"]
    async with await open_chat(address) as ws:
        pass  # marked sent now: it is in the history, with its id
    ws = await connect(f"ws://{address}/ws/chat?session={SESSION}&lang=en")
    history = await frame(ws)
    await ws.close()
    out = [m for m in history["messages"] if m["direction"] == "out"]
    assert [m["id"] for m in out] == [reply_id]


async def test_a_foreign_page_cannot_open_the_socket(web: tuple[str, Engine]) -> None:
    address, _ = web
    with pytest.raises(InvalidStatus) as refused:
        await connect(
            f"ws://{address}/ws/chat?session={SESSION}", origin=Origin("http://evil.example")
        )
    assert refused.value.response.status_code == 403
    # The bot's own page, and clients that send no Origin (not browsers), are let in.
    async with await open_chat(address, origin=Origin(f"http://{address}")) as ws:
        await still_answers(ws, "own-page")


async def test_an_allowed_site_may_embed_the_chat(web: tuple[str, Engine]) -> None:
    address, engine = web
    channel = engine.channels.get("webchat")
    assert isinstance(channel, WebChatChannel)
    channel.allowed_origins = ("https://shop.example",)
    async with await open_chat(address, origin=Origin("https://shop.example")) as ws:
        await still_answers(ws, "embedded")


async def test_two_browsers_may_pick_the_same_message_id(web: tuple[str, Engine]) -> None:
    address, _ = web
    for session in ("browser-one-0001", "browser-two-0002"):
        async with await connect(f"ws://{address}/ws/chat?session={session}") as ws:
            assert (await frame(ws))["type"] == "history"
            await ws.send(json.dumps({"type": "message", "id": "0", "text": "where is my order"}))
            assert await frame(ws) == {"type": "ack", "id": "0"}
            assert (await frame(ws))["type"] == "message"  # answered, not dropped as a repeat
        async with await connect(f"ws://{address}/ws/chat?session={session}") as ws:
            history = (await frame(ws))["messages"]
        assert [(m["direction"], m.get("id")) for m in history[:1]] == [("in", "0")]
