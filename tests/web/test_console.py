"""The agent console over real HTTP and WebSocket: login, sessions, CSRF, escaping, live events.

The browser-level behaviour is in tests/web/test_console_browser.py; these tests check the
security properties one request at a time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from bot.handoff import State
from bot.messages import InboundMessage
from bot.storage.agent_desk import NoteRepository
from bot.storage.database import Database
from bot.storage.repositories import AgentRepository
from tests.support.console import PASSWORD, AgentClient, serve_console
from tests.support.desk import DeskRig, make_rig

HOSTILE_NAME = '<img src=x onerror="alert(1)">'
HOSTILE_TEXT = "<script>alert('pwned')</script> and <img src=x onerror=alert(2)>"


@pytest.fixture
async def rig(db: Database) -> DeskRig:
    rig = await make_rig(db)
    await rig.add_agent("priya", languages=["gu", "en"], password=PASSWORD)
    await rig.add_agent("ravi", password=PASSWORD)
    await rig.add_agent("boss", role="admin", password=PASSWORD)
    return rig


@pytest.fixture
async def base(rig: DeskRig) -> AsyncIterator[str]:
    async with serve_console(rig) as address:
        yield address


@pytest.fixture
async def priya(base: str) -> AsyncIterator[AgentClient]:
    client = AgentClient(base)
    assert (await client.login("priya")).status_code == 303
    yield client
    await client.close()


async def hostile_customer(rig: DeskRig, text: str = HOSTILE_TEXT) -> int:
    await rig.engine.receive(
        InboundMessage(
            channel="fake",
            conversation_key="chat-evil",
            user_id="evil",
            user_name=HOSTILE_NAME,
            text=text,
            message_id="m1",
        )
    )
    await rig.push("/human", user="evil")
    return (await rig.conversation("evil")).id


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/console/ws"


# --- nothing without a login -------------------------------------------------------------------


async def test_nothing_of_a_conversation_is_visible_without_login(rig: DeskRig, base: str) -> None:
    conversation_id = await hostile_customer(rig, "my secret order 4711")
    async with httpx.AsyncClient(base_url=base, follow_redirects=False) as anonymous:
        for path in ("/console/", f"/console/c/{conversation_id}"):
            response = await anonymous.get(path)
            assert response.status_code == 303
            assert response.headers["location"] == "/console/login"
        for path in ("/console/fragments/lists", f"/console/c/{conversation_id}/fragment"):
            response = await anonymous.get(path)
            assert response.status_code == 401
            assert "4711" not in response.text
        for action in ("claim", "reply", "handback", "resolve", "transfer", "note"):
            response = await anonymous.post(
                f"/console/c/{conversation_id}/{action}", data={"text": "x"}
            )
            assert response.status_code == 401
    with pytest.raises(InvalidStatus):
        async with websockets.connect(ws_url(base), origin=Origin(base)):
            pass
    assert (await rig.conversation("evil")).state == State.QUEUED


async def test_wrong_password_and_unknown_name_get_the_same_answer(base: str) -> None:
    client = AgentClient(base)
    wrong = await client.login("priya", "not the password")
    unknown = await client.login("nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong name or password." in wrong.text and "Wrong name or password." in unknown.text
    for response in (wrong, unknown):
        assert not any(
            "helpdesk_console=" in value
            for key, value in response.headers.multi_items()
            if key == "set-cookie"
        )
    assert "helpdesk_console" not in client.http.cookies
    await client.close()


async def test_an_agent_without_a_password_cannot_log_in(rig: DeskRig, base: str) -> None:
    await rig.add_agent("nopass")
    client = AgentClient(base)
    assert (await client.login("nopass", "")).status_code == 401
    assert (await client.login("nopass", "anything-at-all")).status_code == 401
    await client.close()


async def test_repeated_failures_are_throttled(base: str) -> None:
    client = AgentClient(base)
    for _ in range(5):
        assert (await client.login("priya", "guess")).status_code == 401
    blocked = await client.login("priya", PASSWORD)  # even the right password, for now
    assert blocked.status_code == 429
    assert "Too many failed attempts" in blocked.text
    await client.close()


async def test_login_form_needs_its_own_token(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post("/console/login", data={"name": "priya", "password": PASSWORD})
    assert response.status_code == 401
    assert "login form expired" in response.text


async def test_session_cookie_is_locked_down(base: str) -> None:
    client = AgentClient(base)
    response = await client.login("priya")
    cookie = next(
        v
        for k, v in response.headers.multi_items()
        if k == "set-cookie" and "helpdesk_console=" in v
    )
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=strict", "path=/console"} <= attributes
    assert "secure" not in attributes  # plain http on 127.0.0.1
    await client.close()


async def test_secure_cookies_when_configured(rig: DeskRig) -> None:
    async with serve_console(rig, secure_cookies=True) as base:
        client = AgentClient(base)
        form = await client.http.get("/console/login")
        assert "secure" in form.headers["set-cookie"].lower()
        await client.close()


async def test_logout_ends_the_session_for_that_cookie(priya: AgentClient) -> None:
    stolen = dict(priya.http.cookies)
    assert (await priya.post("/console/logout")).status_code == 303
    async with httpx.AsyncClient(base_url=priya.base, cookies=stolen) as replay:
        response = await replay.get("/console/")
        assert response.status_code == 303 and response.headers["location"] == "/console/login"


# --- CSRF and origin -----------------------------------------------------------------------------


async def test_actions_need_the_csrf_token_and_our_origin(rig: DeskRig, priya: AgentClient) -> None:
    conversation_id = await hostile_customer(rig)
    path = f"/console/c/{conversation_id}/claim"
    assert (await priya.post(path, csrf="")).status_code == 403
    assert (await priya.post(path, csrf="forged-token")).status_code == 403
    evil = await priya.post(path, headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403
    assert (await rig.conversation("evil")).state == State.QUEUED
    ok = await priya.post(path)
    assert ok.status_code == 303 and ok.headers["location"] == f"/console/c/{conversation_id}"
    assert (await rig.conversation("evil")).state == State.AGENT


async def test_scripts_get_json_with_the_reason(
    rig: DeskRig, base: str, priya: AgentClient
) -> None:
    conversation_id = await hostile_customer(rig)
    ravi = AgentClient(base)
    await ravi.login("ravi")
    json_headers = {"Accept": "application/json"}
    assert (await priya.post(f"/console/c/{conversation_id}/claim", headers=json_headers)).json()[
        "ok"
    ]
    lost = await ravi.post(f"/console/c/{conversation_id}/claim", headers=json_headers)
    assert lost.status_code == 409 and lost.json()["error"] == "priya already has this chat."
    sent = await priya.post(
        f"/console/c/{conversation_id}/reply", {"text": "Hi there"}, headers=json_headers
    )
    assert sent.json() == {"ok": True, "error": None, "location": f"/console/c/{conversation_id}"}
    assert rig.sent("evil")[-1].text == "Hi there"
    await ravi.close()


async def test_any_agent_may_note_a_chat_but_only_its_owner_replies(
    rig: DeskRig, base: str, priya: AgentClient
) -> None:
    # The rule (docs/agents.md): every agent sees every chat, so any agent (and any admin)
    # may leave an internal note on it; replying, handing back, resolving and
    # transferring stay with the owner (or an admin, except replying).
    conversation_id = await hostile_customer(rig)
    json_headers = {"Accept": "application/json"}
    await priya.post(f"/console/c/{conversation_id}/claim", headers=json_headers)
    ravi, boss = AgentClient(base), AgentClient(base)
    await ravi.login("ravi")
    await boss.login("boss")
    for colleague, text in ((ravi, "Called us yesterday about the same order"), (boss, "VIP")):
        noted = await colleague.post(
            f"/console/c/{conversation_id}/note", {"text": text}, headers=json_headers
        )
        assert noted.json()["ok"], noted.text
    refused = await ravi.post(
        f"/console/c/{conversation_id}/reply", {"text": "me too"}, headers=json_headers
    )
    assert refused.status_code == 403
    page = await priya.http.get(f"/console/c/{conversation_id}")
    assert "Called us yesterday about the same order" in page.text and "VIP" in page.text
    async with rig.db.transaction() as session:
        notes = await NoteRepository(session).for_conversation(conversation_id)
    assert [(n.author, n.text) for n in notes] == [
        ("ravi", "Called us yesterday about the same order"),
        ("boss", "VIP"),
    ]
    assert "me too" not in [m.text for m in rig.sent("evil")]
    await ravi.close()
    await boss.close()


async def test_a_failed_action_shows_a_one_time_message(rig: DeskRig, base: str) -> None:
    conversation_id = await hostile_customer(rig)
    ravi = AgentClient(base)
    await ravi.login("ravi")
    response = await ravi.post(f"/console/c/{conversation_id}/reply", {"text": "hi"})
    assert response.status_code == 303
    page = await ravi.http.get(f"/console/c/{conversation_id}")
    assert "Claim this chat first." in page.text
    again = await ravi.http.get(f"/console/c/{conversation_id}")
    assert "Claim this chat first." not in again.text
    await ravi.close()


async def test_redirects_stay_on_the_console(priya: AgentClient) -> None:
    response = await priya.post(
        "/console/presence", {"presence": "away", "back": "https://evil.example/"}
    )
    assert response.headers["location"] == "/console/"


# --- what the pages show --------------------------------------------------------------------------


async def test_customer_text_is_rendered_as_text_on_every_page(
    rig: DeskRig, priya: AgentClient
) -> None:
    conversation_id = await hostile_customer(rig)
    await priya.post(
        f"/console/c/{conversation_id}/note", {"text": "<b>note</b><script>x()</script>"}
    )
    pages = [
        await priya.http.get("/console/"),
        await priya.http.get("/console/fragments/lists"),
        await priya.http.get(f"/console/c/{conversation_id}"),
        await priya.http.get(f"/console/c/{conversation_id}/fragment"),
    ]
    for page in pages:
        assert page.status_code == 200
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
        assert "<script>x()" not in page.text
    conversation_page = pages[2].text
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in conversation_page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in conversation_page
    assert "&lt;b&gt;note&lt;/b&gt;" in conversation_page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in pages[0].text


async def test_pages_carry_security_headers(priya: AgentClient) -> None:
    page = await priya.http.get("/console/")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"


async def test_conversation_page_shows_the_whole_story(rig: DeskRig, priya: AgentClient) -> None:
    await rig.push("where is my order", user="carol")
    # /ticket is a short dialogue: summary (here the argument), then details.
    await rig.push("/ticket Blender jar cracked", user="carol")
    await rig.push("It arrived cracked on Monday, order 5521.", user="carol")
    await rig.push("blorp", user="carol")
    await rig.push("/human", user="carol")
    conversation_id = (await rig.conversation("carol")).id
    page = (await priya.http.get(f"/console/c/{conversation_id}")).text
    assert "where is my order" in page  # the customer
    assert "Your ticket HD-1001 is open" in page  # the bot's turns
    assert "out_of_scope 0.45" in page and "faq/order_status 0.20" in page  # NLU guesses
    assert "HD-1001" in page.split('id="customer-side"')[1]  # past tickets
    assert "bot → queued: asked for a person" in page  # the handoff history
    assert 'id="claim"' in page and 'id="reply-form"' in page


async def test_queue_lists_waiting_chats_with_their_details(
    rig: DeskRig, priya: AgentClient
) -> None:
    await rig.push("મારો ઓર્ડર ક્યાં છે?", user="dev")
    await rig.push("/human", user="dev")
    rig.clock.advance(minutes=3)
    for name in ("priya", "ravi"):  # their consoles checked in meanwhile
        async with rig.db.transaction() as session:
            agent = await AgentRepository(session).find(name)
        assert agent is not None
        await rig.desk.heartbeat(agent.id)
    board = (await priya.http.get("/console/fragments/lists")).text
    queue = board.split('id="queue-panel"')[1].split("</section>")[0]
    assert "Dev" in queue and "fake" in queue and "gu" in queue
    assert "3 min" in queue and "/human" in queue and "asked for a person" in queue
    assert "→ priya" in queue  # routing suggests the Gujarati speaker


async def test_take_next_and_presence_through_forms(rig: DeskRig, priya: AgentClient) -> None:
    await rig.push("/human", user="erin")
    response = await priya.post("/console/next")
    conversation = await rig.conversation("erin")
    assert response.headers["location"] == f"/console/c/{conversation.id}"
    assert conversation.state == State.AGENT
    assert (await priya.post("/console/presence", {"presence": "away"})).status_code == 303
    assert 'value="away" selected' in (await priya.http.get("/console/")).text
    assert (await priya.post("/console/presence", {"presence": "invisible"})).status_code == 303


async def test_form_bodies_are_bounded(rig: DeskRig, priya: AgentClient) -> None:
    conversation_id = await hostile_customer(rig)
    response = await priya.post(f"/console/c/{conversation_id}/note", {"text": "x" * 70_000})
    assert response.status_code == 413


# --- live ---------------------------------------------------------------------------------------


async def test_the_live_socket_pushes_customer_messages(rig: DeskRig, priya: AgentClient) -> None:
    conversation_id = await hostile_customer(rig)
    cookie = "; ".join(f"{k}={v}" for k, v in priya.http.cookies.items())
    async with websockets.connect(
        ws_url(priya.base), origin=Origin(priya.base), additional_headers={"Cookie": cookie}
    ) as socket:
        hello = json.loads(await asyncio.wait_for(socket.recv(), 5))
        assert hello == {"kind": "hello", "agent": "priya"}
        await rig.push("are you there?", user="evil")
        while True:
            event = json.loads(await asyncio.wait_for(socket.recv(), 5))
            if event["kind"] == "message":
                break
        assert event["conversation_id"] == conversation_id
        assert event["message"]["text"] == "are you there?"
        await socket.send(json.dumps({"type": "heartbeat"}))


async def test_the_live_socket_refuses_other_origins(priya: AgentClient) -> None:
    cookie = "; ".join(f"{k}={v}" for k, v in priya.http.cookies.items())
    with pytest.raises(InvalidStatus):
        async with websockets.connect(
            ws_url(priya.base),
            origin="https://evil.example",  # type: ignore[arg-type]
            additional_headers={"Cookie": cookie},
        ):
            pass
