"""Three ``helpdesk run`` workers and two Rasa servers behind HAProxy, with real processes.

On 127.0.0.1: real PostgreSQL (a fresh database) and Redis, the fake Telegram and Slack
servers the real platform clients talk to, HAProxy balancing round-robin. Customers write
on all three channels through HAProxy, so one conversation's messages land on different
workers. Checked: every message answered exactly once and in order (by the customers'
clients and in the database), the desk's live events cross workers, a claim race across
workers has one winner, an SLA alert fires once; then a worker and a Rasa server are
killed with SIGKILL mid-stream. Run alone with ``.venv/bin/pytest tests/cluster``.

The module starts one Rasa server of its own next to the session's (two replicas in all)
and the three workers once; the tests share them, in file order.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select
from websockets.asyncio.client import ClientConnection, connect

from bot.desk.accounts import add_agent
from bot.nlu.rasa_server import RasaSupervisor
from bot.storage.api_tokens import ApiTokenRepository
from bot.storage.database import Database
from bot.storage.models import Agent, Delivery, Direction, Message, TicketEvent
from bot.storage.models import Conversation as ConversationRow
from tests.conftest import IN_CI
from tests.support.cluster import Cluster, RasaFleet, alive, fresh_database, redis_url
from tests.support.cluster_traffic import (
    Conversation,
    Figures,
    count,
    questions_for,
    slack_dm,
    slack_replies,
    telegram_chat,
    telegram_replies,
    wait_answered,
    web_chat,
    web_history,
)
from tests.support.console import PASSWORD, AgentClient
from tests.support.fake_slack import FakeSlack
from tests.support.fake_telegram import FakeTelegram, TelegramUser
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.rasa, pytest.mark.postgres]

WORKERS = 3
SLA = {  # first answer due 4 s after a ticket opens, warned at half of that
    "urgent": {"first_response_h": 1, "resolution_h": 8},
    "high": {"first_response_h": 1, "resolution_h": 8},
    "normal": {"first_response_h": 4 / 3600, "resolution_h": 8},
    "low": {"first_response_h": 1, "resolution_h": 8},
}
SETTINGS = {
    "HELPDESK_TICKETS__SLA": json.dumps(SLA),
    "HELPDESK_TICKETS__WARN_FRACTION": "0.5",
    "HELPDESK_TICKETS__SWEEP_EVERY_S": "0.5",
}


@dataclass
class Rig:
    cluster: Cluster
    rasa: RasaFleet
    telegram: FakeTelegram
    slack: FakeSlack
    db: Database


@pytest.fixture(scope="module")
async def rig(rasa: RasaSupervisor, test_model: Path) -> AsyncIterator[Rig]:
    target = redis_url()
    problem = await _redis_problem(target)
    if problem is not None:
        if IN_CI:
            pytest.fail(f"Redis unreachable at {target} under CI: {problem}")
        pytest.skip(f"Redis unreachable at {target}: {problem}")
    async with (
        fresh_database() as database_url,
        FakeTelegram() as telegram,
        FakeSlack() as slack,
        RasaFleet(test_model, 1, token=rasa.token) as second,
    ):
        cluster = Cluster(
            workers_count=WORKERS,
            nlu_urls=[rasa.url, *second.urls],
            nlu_token=rasa.token,
            database_url=database_url,
            redis_url=target,
            telegram=telegram,
            slack=slack,
            settings=SETTINGS,
        )
        db = Database(database_url)
        try:
            async with cluster:
                yield Rig(cluster, second, telegram, slack, db)
        finally:
            await db.dispose()
        assert alive(cluster.pids) == [], "processes left running after the cluster stopped"
    assert alive([p for s in second.servers for p in [s.pid] if p]) == []


async def _redis_problem(url: str) -> str | None:
    client = aioredis.from_url(url)
    try:
        await client.ping()
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        await client.aclose()


# --- traffic ---------------------------------------------------------------------------------


async def traffic(
    rig: Rig, *, tag: str, customers: int, messages: int, faults: bool = False
) -> tuple[list[Conversation], Figures]:
    """``customers`` on each channel ask ``messages`` questions through HAProxy; with
    ``faults``, worker 2 and the second Rasa server are killed with SIGKILL once a third of
    the answers arrived."""
    cluster = rig.cluster
    web = [
        Conversation("webchat", f"{tag}-web-{n:03d}-session", questions_for(n, messages))
        for n in range(customers)
    ]
    base = 7_000_000 + 1000 * (ord(tag[-1]) % 50)
    users = [TelegramUser(base + n, f"Customer{n}") for n in range(customers)]
    telegram = {
        user.id: Conversation("telegram", str(user.id), questions_for(n + 1, messages))
        for n, user in enumerate(users)
    }
    slack_users = [f"U{tag.upper()}{n:03d}" for n in range(customers)]
    for user in slack_users:
        rig.slack.add_user(user, user.lower())
    slack = {
        f"D{user}": Conversation("slack", f"D{user}", questions_for(n + 2, messages))
        for n, user in enumerate(slack_users)
    }
    everyone = [*web, *telegram.values(), *slack.values()]
    telegram_replies(rig.telegram, telegram)
    listening = asyncio.create_task(slack_replies(rig.slack, slack))
    stop = asyncio.Event()
    started = time.monotonic()
    talks = [
        *(asyncio.create_task(web_chat(c, cluster.ws_url, stop)) for c in web),
        *(
            asyncio.create_task(telegram_chat(rig.telegram, user, telegram[user.id]))
            for user in users
        ),
        *(
            asyncio.create_task(
                slack_dm(rig.slack, f"{cluster.url}/slack/events", user, slack[f"D{user}"])
            )
            for user in slack_users
        ),
    ]
    kills_at: list[float] = []
    try:
        if faults:
            total = sum(len(c.questions) for c in everyone)
            await wait_until(
                lambda: sum(len(c.replies) for c in everyone) >= total // 3,
                within=120,
                what="a third of the answers",
            )
            kills_at.append(time.monotonic())
            await cluster.kill(1)
            rig.rasa.kill(0)
        # Orphans are due within seconds: what is not answered by then counts as lost.
        await asyncio.wait(talks, timeout=90)
        await wait_answered(everyone, within=15)
        # A reply a killed worker sent but had not marked sent goes out again with the
        # outbox retry (every few seconds): wait for it, so the count sees it.
        await wait_until(
            lambda: nothing_pending(rig.db, everyone), within=30, what="the outbox empty"
        )
        await asyncio.sleep(2)  # a duplicate would arrive after the first answer
    finally:
        stop.set()
        for task in [*talks, listening]:
            task.cancel()
        await asyncio.gather(*talks, listening, return_exceptions=True)
    figures = count(everyone, kills_at=kills_at)
    figures.seconds = round(time.monotonic() - started, 1)
    for conversation in web:  # a fresh page load shows each answer once
        stored = [
            m
            for m in await web_history(cluster.ws_url, conversation.key)
            if m.get("direction") == "out"
        ]
        if len(stored) != len(conversation.questions):
            figures.problems.append(f"{conversation.key}: {len(stored)} replies in the history")
    return everyone, figures


async def nothing_pending(db: Database, conversations: list[Conversation]) -> bool:
    """No reply of these conversations waits in the outbox."""
    async with db.transaction() as session:
        pending = await session.scalar(
            select(func.count())
            .select_from(Message)
            .join(ConversationRow, ConversationRow.id == Message.conversation_id)
            .where(
                Message.direction == Direction.OUT,
                Message.delivery == Delivery.PENDING,
                ConversationRow.conversation_key.in_([c.key for c in conversations]),
            )
        )
    return not pending


async def stored_problems(db: Database, conversations: list[Conversation]) -> list[str]:
    """What the database says against the clients: one inbound row per message, every one
    processed, one bot reply per message, every reply sent."""
    problems = []
    async with db.transaction() as session:
        for c in conversations:
            rows = (
                await session.execute(
                    select(Message.direction, Message.delivery, func.count())
                    .join(ConversationRow, ConversationRow.id == Message.conversation_id)
                    .where(
                        ConversationRow.channel == c.channel,
                        ConversationRow.conversation_key == c.key,
                    )
                    .group_by(Message.direction, Message.delivery)
                )
            ).all()
            found = {(str(d), str(s)): n for d, s, n in rows}
            wanted = {
                (str(Direction.IN), str(Delivery.PROCESSED)): len(c.questions),
                (str(Direction.OUT), str(Delivery.SENT)): len(c.questions),
            }
            if found != wanted:
                problems.append(f"{c.channel} {c.key}: stored {found}, expected {wanted}")
    return problems


async def timelines(db: Database, conversations: list[Conversation], keys: list[str]) -> str:
    """The stored messages of some conversations (direction, delivery, when stored and sent,
    seconds from the conversation's first message): what a failure message shows."""
    lines = []
    async with db.transaction() as session:
        for c in conversations:
            if c.key not in keys:
                continue
            rows = (
                await session.execute(
                    select(
                        Message.id,
                        Message.direction,
                        Message.delivery,
                        Message.created_at,
                        Message.sent_at,
                    )
                    .join(ConversationRow, ConversationRow.id == Message.conversation_id)
                    .where(
                        ConversationRow.channel == c.channel,
                        ConversationRow.conversation_key == c.key,
                    )
                    .order_by(Message.id)
                )
            ).all()
            start = rows[0][3] if rows else None
            lines.append(f"{c.channel} {c.key}:")
            for row_id, direction, delivery, created, sent in rows:
                at = (created - start).total_seconds() if start else 0.0
                sent_s = f"{(sent - start).total_seconds():.2f}" if sent and start else "-"
                lines.append(f"  {row_id} {direction} {delivery} stored {at:.2f} sent {sent_s}")
    return "\n".join(lines)


async def test_all_three_channels_through_haproxy_are_answered_once_and_in_order(
    rig: Rig,
) -> None:
    before = await rig.cluster.requests_per_worker()
    conversations, figures = await traffic(rig, tag="a", customers=4, messages=4)
    print(figures)
    assert (figures.lost, figures.duplicated, figures.out_of_order) == (0, 0, 0), figures.problems
    assert figures.answered == figures.messages == 48
    assert figures.resent == 0  # nothing crashed: nothing may go out twice
    assert figures.problems == []
    assert await stored_problems(rig.db, conversations) == []
    after = await rig.cluster.requests_per_worker()
    spread = [b - a for a, b in zip(before, after, strict=True)]
    # Round-robin: every worker took a fair share of the 32 webhook posts and 4 sockets.
    assert all(n >= 8 for n in spread), spread


# --- the desk across workers -------------------------------------------------------------------


async def agent_online(base: str, name: str) -> tuple[AgentClient, ClientConnection]:
    """An agent logged in on one worker (``base``) with the console's live socket open."""
    client = AgentClient(base)
    response = await client.login(name)
    assert response.status_code == 303, response.text
    cookie = "; ".join(f"{k}={v}" for k, v in client.http.cookies.items())
    socket = await connect(
        base.replace("http://", "ws://") + "/console/ws",
        additional_headers={"Cookie": cookie, "Origin": base},
        open_timeout=10,
    )
    hello = json.loads(await socket.recv())
    assert hello["kind"] == "hello", hello
    return client, socket


async def next_event(
    socket: ClientConnection, match: dict[str, Any], within: float
) -> dict[str, Any]:
    """The first event on a console socket with every field of ``match``."""
    try:
        async with asyncio.timeout(within):
            while True:
                event = json.loads(await socket.recv())
                if all(event.get(k) == v for k, v in match.items()):
                    return dict(event)
    except TimeoutError:
        raise AssertionError(f"no event {match} on the console within {within} s") from None


async def conversation_id(db: Database, channel: str, key: str) -> int:
    async with db.transaction() as session:
        found = await session.scalar(
            select(ConversationRow.id).where(
                ConversationRow.channel == channel, ConversationRow.conversation_key == key
            )
        )
    assert found is not None, f"no {channel} conversation {key}"
    return int(found)


async def ask_for_a_person(base: str, session: str) -> None:
    """A web chat customer on one worker (``base``) asks for a person; acknowledged."""
    async with connect(f"{base.replace('http', 'ws', 1)}/ws/chat?lang=en&session={session}") as ws:
        assert json.loads(await ws.recv())["type"] == "history"
        await ws.send(json.dumps({"type": "message", "id": "h1", "text": "/human"}))
        await next_event_frame(ws, "ack")


async def test_a_console_on_worker_1_sees_a_handoff_that_arrived_at_worker_2(rig: Rig) -> None:
    one, two = rig.cluster.workers[0], rig.cluster.workers[1]
    await add_agent(
        rig.db, name="ana", languages=["en"], max_chats=3, role="agent", password=PASSWORD
    )
    ana, socket = await agent_online(one.url, "ana")  # online: a handoff may queue
    try:
        session = "desk-events-0001-session"
        await ask_for_a_person(two.url, session)
        chat = await conversation_id_eventually(rig.db, "webchat", session)
        # Published on worker 2, where the message arrived; seen on worker 1's console.
        await next_event(socket, {"kind": "conversation", "conversation_id": chat}, 15)
        await next_event(socket, {"kind": "queue"}, 15)
    finally:
        await socket.close()
        await ana.close()


async def test_two_agents_on_two_workers_claiming_one_queued_chat_have_one_winner(
    rig: Rig,
) -> None:
    workers = rig.cluster.workers
    for name in ("ben", "dan"):
        await add_agent(
            rig.db, name=name, languages=["en"], max_chats=3, role="agent", password=PASSWORD
        )
    ben, ben_socket = await agent_online(workers[0].url, "ben")
    dan, dan_socket = await agent_online(workers[1].url, "dan")
    try:
        session = "desk-claims-0001-session"
        await ask_for_a_person(workers[2].url, session)
        chat = await conversation_id_eventually(rig.db, "webchat", session)

        async def state() -> str:
            async with rig.db.transaction() as s:
                found = await s.scalar(
                    select(ConversationRow.state).where(ConversationRow.id == chat)
                )
            return str(found)

        await wait_until(lambda: _is(state(), "queued"), within=15, what="the chat queued")

        async def claim(agent: AgentClient) -> httpx.Response:
            return await agent.post(
                f"/console/c/{chat}/claim", headers={"Accept": "application/json"}
            )

        results = await asyncio.gather(claim(ben), claim(dan))
        outcomes = [(r.status_code, r.text) for r in results]
        winners = [n for n, r in enumerate(results) if r.status_code == 200 and r.json()["ok"]]
        assert len(winners) == 1, outcomes
        assert [r.status_code for r in results].count(409) == 1, outcomes
        async with rig.db.transaction() as s:
            owner = await s.scalar(
                select(Agent.name)
                .join(ConversationRow, ConversationRow.agent_id == Agent.id)
                .where(ConversationRow.id == chat)
            )
        assert owner == ("ben", "dan")[winners[0]]
        assert await state() == "agent"
    finally:
        for socket in (ben_socket, dan_socket):
            await socket.close()
        await ben.close()
        await dan.close()


async def test_an_agents_reply_on_worker_1_reaches_a_web_chat_socket_on_worker_3(
    rig: Rig,
) -> None:
    """The customer's socket lives on worker 3; the agent answers from worker 1's console:
    worker 1 stores the reply, cannot send it, and worker 3 (asked over Redis) does."""
    one, three = rig.cluster.workers[0], rig.cluster.workers[2]
    await add_agent(
        rig.db, name="eve", languages=["en"], max_chats=3, role="agent", password=PASSWORD
    )
    eve, socket = await agent_online(one.url, "eve")
    session = "desk-reply-0001-session"
    url = f"{three.url.replace('http', 'ws', 1)}/ws/chat?lang=en&session={session}"
    try:
        async with connect(url) as customer:
            assert json.loads(await customer.recv())["type"] == "history"
            await customer.send(json.dumps({"type": "message", "id": "r1", "text": "/human"}))
            await next_event_frame(customer, "ack")
            chat = await conversation_id_eventually(rig.db, "webchat", session)
            await wait_until(
                lambda: _is(chat_state(rig.db, chat), "queued"),
                within=15,
                what="the chat queued",
            )
            claimed = await eve.post(f"/console/c/{chat}/claim", headers=JSON)
            assert claimed.status_code == 200, claimed.text
            replied = await eve.post(
                f"/console/c/{chat}/reply", {"text": "Hi, Eve here from worker one"}, headers=JSON
            )
            assert replied.status_code == 200, replied.text
            # Well inside the outbox retry's 5 s: the notice, not the retry, carried it.
            started = asyncio.get_running_loop().time()
            frame = await next_message_with(customer, "Eve here", within=10)
            waited = asyncio.get_running_loop().time() - started
            assert frame["text"] == "Hi, Eve here from worker one"
            assert waited < 4.5, waited
    finally:
        await socket.close()
        await eve.close()


JSON = {"Accept": "application/json"}


async def chat_state(db: Database, chat: int) -> str:
    async with db.transaction() as session:
        found = await session.scalar(
            select(ConversationRow.state).where(ConversationRow.id == chat)
        )
    return str(found)


async def next_message_with(ws: ClientConnection, text: str, within: float) -> dict[str, Any]:
    """The first web chat frame whose text contains ``text``."""
    try:
        async with asyncio.timeout(within):
            while True:
                frame = json.loads(await ws.recv())
                if text in str(frame.get("text", "")):
                    return dict(frame)
    except TimeoutError:
        raise AssertionError(f"no frame with {text!r} on the web chat within {within} s") from None


async def _is(value: Awaitable[str], wanted: str) -> bool:
    return await value == wanted


async def next_event_frame(ws: ClientConnection, kind: str, within: float = 15) -> dict[str, Any]:
    try:
        async with asyncio.timeout(within):
            while True:
                frame = json.loads(await ws.recv())
                if frame.get("type") == kind:
                    return dict(frame)
    except TimeoutError:
        raise AssertionError(f"no {kind} frame on the web chat within {within} s") from None


async def conversation_id_eventually(db: Database, channel: str, key: str) -> int:
    for _ in range(100):
        try:
            return await conversation_id(db, channel, key)
        except AssertionError:
            await asyncio.sleep(0.1)
    return await conversation_id(db, channel, key)


async def test_an_sla_alert_fires_once_across_the_workers(rig: Rig) -> None:
    """Every worker sweeps the tickets every 0.5 s; the breach is announced once, on the
    console of a worker that may not be the one that found it."""
    await add_agent(
        rig.db, name="cleo", languages=["en"], max_chats=3, role="agent", password=PASSWORD
    )
    cleo, socket = await agent_online(rig.cluster.workers[1].url, "cleo")
    seen: list[dict[str, Any]] = []

    async def watch() -> None:
        async for frame in socket:
            event = json.loads(frame)
            if event.get("kind") == "ticket" and "sla" in event:
                seen.append(event)

    watching = asyncio.create_task(watch())
    async with rig.db.transaction() as session:
        token, _ = await ApiTokenRepository(session).add("cluster-test")
    try:
        async with httpx.AsyncClient(base_url=rig.cluster.url, timeout=20) as api:
            created = await api.post(
                "/api/v1/tickets",
                json={"subject": "Broken charger", "priority": "normal"},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert created.status_code == 201, created.text
        reference = created.json()["reference"]

        def alerts(kind: str) -> list[dict[str, Any]]:
            return [e for e in seen if e.get("reference") == reference and e["sla"] == kind]

        await wait_until(
            lambda: alerts("first_response_breach"), within=30, what="the SLA breach alert"
        )
        await asyncio.sleep(3)  # six more sweeps on each worker: none may fire it again
        async with rig.db.transaction() as session:
            details = list(
                (
                    await session.scalars(
                        select(TicketEvent.detail)
                        .where(TicketEvent.kind == "sla")
                        .order_by(TicketEvent.id)
                    )
                ).all()
            )
        assert details.count("first_response_breach") == 1, details
        assert details.count("first_response_warning") <= 1, details
        assert len(alerts("first_response_breach")) == 1, seen
        assert len(alerts("first_response_warning")) == details.count("first_response_warning")
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        await socket.close()
        await cleo.close()


# --- faults ------------------------------------------------------------------------------------


async def test_kill_9_of_a_worker_and_a_rasa_mid_stream_loses_nothing_and_keeps_order(
    rig: Rig,
) -> None:
    conversations, figures = await traffic(rig, tag="k", customers=4, messages=6, faults=True)
    stored = await stored_problems(rig.db, conversations)
    print(figures, stored)
    keys = [p.split(" ")[1].rstrip(":") for p in figures.problems]
    print(await timelines(rig.db, conversations, keys))
    assert rig.cluster.workers[1].kills == 1
    assert rig.rasa.servers[0].restarts == 1  # killed, and started again by its supervisor
    assert figures.pending_at_kill > 0  # the kill hit messages in flight
    assert (figures.lost, figures.duplicated) == (0, 0), figures.problems
    assert figures.answered == figures.messages == 72
    assert figures.orphan_max_s <= 10, figures
    assert stored == []
    assert figures.out_of_order == 0, figures.problems
    assert figures.problems == []
