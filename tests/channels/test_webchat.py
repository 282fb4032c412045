"""The web chat socket end to end: a real WebSocket client, the engine, a real Rasa."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from bot.channels.webchat import WebChatChannel, to_inbound
from bot.engine.pipeline import Engine
from bot.knowledge.loader import load_knowledge_base
from tests.conftest import TEST_KB

pytestmark = pytest.mark.rasa

KB = load_knowledge_base(TEST_KB)
SESSION = "test-session-0001"


async def frame(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(await ws.recv(decode=True))  # type: ignore[no-any-return]


async def open_chat(address: str, session: str = SESSION, lang: str = "en-US") -> ClientConnection:
    ws = await connect(f"ws://{address}/ws/chat?session={session}&lang={lang}")
    return ws


async def test_message_in_ack_and_answer_out(web: tuple[str, Engine]) -> None:
    address, _ = web
    async with await open_chat(address) as ws:
        assert await frame(ws) == {"type": "history", "messages": []}
        await ws.send(json.dumps({"type": "message", "id": "m-1", "text": "where is my order?"}))
        assert await frame(ws) == {"type": "ack", "id": "m-1"}
        reply = await frame(ws)
        assert reply["type"] == "message"
        assert reply["text"] == KB.entries["order_status"].answers["en"]


async def test_gujarati_over_the_socket(web: tuple[str, Engine]) -> None:
    address, _ = web
    async with await open_chat(address, lang="gu-IN") as ws:
        await frame(ws)
        await ws.send(json.dumps({"type": "message", "id": "m-1", "text": "મારો ઓર્ડર ક્યાં છે?"}))
        await frame(ws)
        assert (await frame(ws))["text"] == KB.entries["order_status"].answers["gu"]


async def test_buttons_arrive_as_buttons_and_can_be_pressed(web: tuple[str, Engine]) -> None:
    address, _ = web
    async with await open_chat(address) as ws:
        await frame(ws)
        await ws.send(json.dumps({"type": "message", "id": "m-1", "text": "blorp zzz qqq"}))
        await frame(ws)
        clarify = await frame(ws)
        buttons = clarify["buttons"]
        assert buttons[-1]["payload"] == "/human"
        faq_button = buttons[0]
        await ws.send(json.dumps({"type": "button", "id": "m-2", **faq_button}))
        assert await frame(ws) == {"type": "ack", "id": "m-2"}
        answer = await frame(ws)
        faq_id = faq_button["payload"].split()[1]
        assert answer["text"] == KB.entries[faq_id].answers["en"]


async def test_resent_message_is_answered_once(web: tuple[str, Engine]) -> None:
    address, _ = web
    message = json.dumps({"type": "message", "id": "same-id", "text": "hello"})
    async with await open_chat(address) as ws:
        await frame(ws)
        await ws.send(message)
        await frame(ws)
        await frame(ws)
    async with await open_chat(address) as ws:
        history = await frame(ws)
        assert [m["direction"] for m in history["messages"]] == ["in", "out"]
        assert history["messages"][0]["id"] == "same-id"
        await ws.send(message)  # the widget re-sends what it never saw acknowledged
        assert await frame(ws) == {"type": "ack", "id": "same-id"}
        await ws.send(json.dumps({"type": "message", "id": "next", "text": "thanks"}))
        assert await frame(ws) == {"type": "ack", "id": "next"}
        assert (await frame(ws))["type"] == "message"  # the reply to "thanks", not a second "hello"


async def test_malformed_frames_get_an_error_and_the_socket_stays(web: tuple[str, Engine]) -> None:
    address, _ = web
    async with await open_chat(address) as ws:
        await frame(ws)
        for bad in (
            "not json",
            json.dumps([1]),
            json.dumps({"type": "message", "id": "x"}),
            json.dumps({"type": "shout"}),
        ):
            await ws.send(bad)
            assert (await frame(ws))["type"] == "error"
        await ws.send(json.dumps({"type": "message", "id": "ok-1", "text": "hello"}))
        assert await frame(ws) == {"type": "ack", "id": "ok-1"}


async def test_a_bad_session_id_is_refused(web: tuple[str, Engine]) -> None:
    address, _ = web
    # Closing before accepting refuses the handshake: HTTP 403, no socket.
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"ws://{address}/ws/chat?session=x")
    assert refused.value.response.status_code == 403


async def test_replies_for_a_closed_tab_wait_in_the_outbox(web: tuple[str, Engine]) -> None:
    address, engine = web
    # The reply is produced while no socket is open (e.g. an agent answers later).
    channel = engine.channels.get("webchat")
    assert isinstance(channel, WebChatChannel)
    frame_in = {"type": "message", "id": "offline-1", "text": "how do I reset my password"}
    inbound = to_inbound(SESSION, frame_in, language_hint=None)
    await engine.receive(inbound)
    async with await open_chat(address) as ws:
        history = await frame(ws)
        assert [m["direction"] for m in history["messages"]] == ["in"]
        pending = await frame(ws)
        assert pending["text"] == KB.entries["reset_password"].answers["en"]
    assert await engine.flush_outbox() == 0


async def test_index_and_health(web: tuple[str, Engine]) -> None:
    address, _ = web
    async with httpx.AsyncClient(base_url=f"http://{address}") as client:
        page = await client.get("/")
        assert page.status_code == 200 and "/static/widget.js" in page.text
        script = await client.get("/static/widget.js")
        assert script.status_code == 200 and "/ws/chat" in script.text
        health = await client.get("/healthz")
        assert health.status_code == 200 and health.json()["ready"] is True
