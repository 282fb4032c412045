"""Slack end to end: signed events POSTed (or pushed over Socket Mode) to the real bolt app,
the engine with a real Rasa and real databases, replies recorded by the fake Slack Web API."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select

from bot.channels import ChannelRegistry
from bot.channels.slack.channel import SlackChannel
from bot.channels.slack.format import escape, section
from bot.engine.pipeline import Engine
from bot.i18n import Catalogue
from bot.knowledge.loader import LiveKnowledgeBase, load_knowledge_base
from bot.nlu.rasa_server import RasaSupervisor
from bot.settings import SlackSettings
from bot.storage.database import Database
from bot.storage.models import ChannelIdentity, Delivery, Direction, Message
from bot.web.app import create_web_app
from tests.conftest import TEST_KB, engine_options
from tests.support.fake_slack import FakeSlack
from tests.support.gated_nlu import GatedNlu
from tests.support.server import serve
from tests.support.waiting import wait_until

pytestmark = pytest.mark.rasa

KB = load_knowledge_base(TEST_KB)
ORDER_ANSWER = KB.entries["order_status"].answers["en"]


@dataclass
class SlackBot:
    slack: FakeSlack
    channel: SlackChannel
    engine: Engine
    events_url: str

    async def transcript(self, key: str) -> list[Message]:
        return await self.engine.transcript(channel="slack", conversation_key=key)

    async def replies(self, channel: str, count: int) -> list[dict[str, Any]]:
        calls = await self.slack.wait_for(
            "chat.postMessage", count, where=lambda c: c.args["channel"] == channel
        )
        return [c.args for c in calls]


@asynccontextmanager
async def running_bot(
    db: Database, rasa: RasaSupervisor, *, mode: Literal["http", "socket"] = "http"
) -> AsyncIterator[SlackBot]:
    """The Slack channel wired as ``helpdesk run`` wires it, against a fresh fake Slack."""
    async with FakeSlack() as slack:
        slack.add_user("U1", "alice", locale="en-US")
        slack.add_user("U2", "bhavin", real_name="Bhavin Shah", locale="gu-IN")
        channel = SlackChannel(
            SlackSettings(mode=mode, base_url=slack.base_url),
            bot_token=slack.bot_token,
            signing_secret=slack.signing_secret,
            app_token=slack.app_token if mode == "socket" else None,
        )
        registry = ChannelRegistry()
        registry.add(channel)
        nlu = rasa.client()
        engine = Engine(
            db=db,
            nlu=nlu,
            kb=LiveKnowledgeBase(TEST_KB, default_language="en"),
            catalogue=Catalogue.load(default_language="en"),
            channels=registry,
            options=engine_options(),
        )
        await channel.start(engine.receive)

        async def readiness() -> dict[str, object]:
            return {"ready": True}

        app = create_web_app(
            engine=engine, webchat=None, readiness=readiness, routes=channel.routes()
        )
        try:
            async with serve(app) as address:
                yield SlackBot(slack, channel, engine, f"http://{address}/slack/events")
        finally:
            await channel.stop()
            await nlu.close()


@pytest.fixture
async def bot(db: Database, rasa: RasaSupervisor) -> AsyncIterator[SlackBot]:
    async with running_bot(db, rasa) as running:
        yield running


@pytest.fixture
async def socket_bot(db: Database, rasa: RasaSupervisor) -> AsyncIterator[SlackBot]:
    async with running_bot(db, rasa, mode="socket") as running:
        yield running


# --- messages in, replies out --------------------------------------------------------


async def test_a_dm_gets_a_reply_in_the_dm(bot: SlackBot) -> None:
    event = bot.slack.dm("U1", "where is my order?")
    response = await bot.slack.post_event(bot.events_url, event)
    assert response.status_code == 200
    [reply] = await bot.replies("DU1", 1)
    assert reply["text"] == escape(ORDER_ANSWER)
    assert reply["blocks"] == [section(escape(ORDER_ANSWER))]
    assert "thread_ts" not in reply
    outbound = await _settled_reply(bot, "DU1")
    [inbound, _] = await bot.transcript("DU1")
    assert inbound.platform_message_id == f"DU1:{event['ts']}"
    assert outbound.delivery == Delivery.SENT
    assert outbound.platform_message_id == f"DU1:{bot.slack.posted('DU1')[0]['ts']}"


async def test_users_info_gives_the_name_and_the_language_hint(bot: SlackBot) -> None:
    # "hello" alone says nothing about the language; Bhavin's Slack locale (gu-IN) does.
    await bot.slack.post_event(bot.events_url, bot.slack.dm("U2", "hello"))
    [reply] = await bot.replies("DU2", 1)
    assert reply["text"] == escape(bot.engine.catalogue.get("greet", "gu", brand="VoltCart"))
    assert (await _identity(bot, "U2")).display_name == "Bhavin"
    await bot.slack.post_event(bot.events_url, bot.slack.dm("U2", "where is my order?"))
    await bot.replies("DU2", 2)
    assert len(bot.slack.calls("users.info")) == 1  # cached


async def test_a_mention_is_answered_in_its_thread(bot: SlackBot) -> None:
    mention = bot.slack.mention("U1", "where is my order?")
    assert (await bot.slack.post_event(bot.events_url, mention)).status_code == 200
    [reply] = await bot.replies("C0SUPPORT", 1)
    assert reply["thread_ts"] == mention["ts"]
    assert reply["text"] == escape(ORDER_ANSWER)
    # Mentioned again inside the thread: the same conversation, the same thread.
    again = bot.slack.mention("U1", "thanks", thread_ts=mention["ts"])
    await bot.slack.post_event(bot.events_url, again)
    replies = await bot.replies("C0SUPPORT", 2)
    assert replies[1]["thread_ts"] == mention["ts"]
    key = f"C0SUPPORT:{mention['ts']}"
    assert [m.text for m in await bot.transcript(key) if m.direction == Direction.IN] == [
        "where is my order?",
        "thanks",
    ]


async def test_the_ack_does_not_wait_for_the_nlu(bot: SlackBot) -> None:
    gated = GatedNlu(bot.engine.nlu)
    bot.engine.nlu = gated
    started = time.monotonic()
    response = await bot.slack.post_event(bot.events_url, bot.slack.dm("U1", "where is my order?"))
    assert response.status_code == 200
    assert time.monotonic() - started < 3.0
    # Acknowledged while the NLU is still blocked, and only after the message was stored.
    assert bot.slack.calls("chat.postMessage") == []
    assert [m.direction for m in await bot.transcript("DU1")] == [Direction.IN]
    gated.gate.set()
    [reply] = await bot.replies("DU1", 1)
    assert reply["text"] == escape(ORDER_ANSWER)


async def test_a_second_message_is_stored_and_acknowledged_while_the_first_is_answered(
    bot: SlackBot,
) -> None:
    gated = GatedNlu(bot.engine.nlu)
    bot.engine.nlu = gated
    first = await bot.slack.post_event(bot.events_url, bot.slack.dm("U1", "where is my order?"))
    started = time.monotonic()
    second = await bot.slack.post_event(
        bot.events_url, bot.slack.dm("U1", "how do I reset my password")
    )
    assert (first.status_code, second.status_code) == (200, 200)
    # Both committed while the first turn still waits for the NLU: the second's ack did
    # not wait for the first turn (before, it waited 2 s and was acknowledged unstored).
    assert time.monotonic() - started < 1.5
    assert [m.direction for m in await bot.transcript("DU1")] == [Direction.IN, Direction.IN]
    assert gated.parsing == 1  # the second waits for its turn
    gated.gate.set()
    replies = await bot.replies("DU1", 2)
    assert [r["text"] for r in replies] == [
        escape(ORDER_ANSWER),
        escape(KB.entries["reset_password"].answers["en"]),
    ]


# --- what must not be processed ------------------------------------------------------


async def test_bad_signature_and_stale_timestamp_get_401(bot: SlackBot) -> None:
    tampered = await bot.slack.post_event(
        bot.events_url, bot.slack.dm("U1", "where is my order?"), tamper=True
    )
    stale = await bot.slack.post_event(
        bot.events_url,
        bot.slack.dm("U1", "where is my order?"),
        timestamp=int(time.time()) - 6 * 60,
    )
    assert (tampered.status_code, stale.status_code) == (401, 401)
    # The listener runs before the response, so by now anything processed would show.
    assert await bot.transcript("DU1") == []
    assert bot.slack.calls("users.info") == []
    assert bot.slack.calls("chat.postMessage") == []


async def _post_raw(
    bot: SlackBot, body: bytes, content_type: str = "application/json", **headers: str
) -> int:
    """POST ``body`` signed with the signing secret (``headers`` override the signature)."""
    sent = {"Content-Type": content_type, **bot.slack.signature_headers(body), **headers}
    async with httpx.AsyncClient() as client:
        response = await client.post(bot.events_url, content=body, headers=sent)
    return response.status_code


async def test_signed_bodies_that_are_not_events_get_400(bot: SlackBot) -> None:
    for body in (b"not json", b"[1]", b"null", b'"text"', b"7", b"[" * 5000 + b"]" * 5000):
        assert await _post_raw(bot, body) == 400, body
    form = "application/x-www-form-urlencoded"
    for body in (b"payload=not+json", b"payload=%5B1%5D", b"payload=null"):
        assert await _post_raw(bot, body, form) == 400, body
    # Signed objects of a shape Slack never sends (found by tests/fuzz).
    envelope = bot.slack.event_callback(bot.slack.dm("U1", "hi"))
    for odd in ({"event": None}, {"authorizations": {"": None}}, {"event": {"type": 5}}):
        assert await _post_raw(bot, json.dumps({**envelope, **odd}).encode()) == 400, odd
    odd_actions: tuple[object, ...] = (None, [{}], "x")
    for actions in odd_actions:
        press = {"type": "block_actions", "actions": actions, "user": {"id": "U1"}}
        body = urlencode({"payload": json.dumps(press)}).encode()
        assert await _post_raw(bot, body, form) == 400, actions
    # The signature is checked before anything is read: unsigned junk gets 401.
    stamp = {"X-Slack-Request-Timestamp": "abc"}
    assert await _post_raw(bot, b"not json", **stamp) == 401
    assert await _post_raw(bot, b"{}", **stamp, **{"X-Slack-Signature": "v0=00"}) == 401
    assert await _post_raw(bot, b"[1]", **{"X-Slack-Signature": "v0=00"}) == 401
    assert await bot.transcript("DU1") == []
    assert bot.slack.calls("chat.postMessage") == []
    # Still answering afterwards.
    response = await bot.slack.post_event(bot.events_url, bot.slack.dm("U1", "where is my order?"))
    assert response.status_code == 200
    await bot.replies("DU1", 1)


async def test_a_too_long_dm_is_cut_and_the_customer_told(bot: SlackBot) -> None:
    bot.channel.max_text_chars = 40
    text = "where is my order? " + "It has been a long wait. " * 9 + "It has."
    response = await bot.slack.post_event(bot.events_url, bot.slack.dm("U1", text))
    assert response.status_code == 200
    [stored, *_] = await bot.transcript("DU1")
    assert stored.text == text[:40].rstrip()
    notice = Catalogue.load().get("message_too_long", "en", length=len(text), max=40)
    replies = [reply["text"] for reply in await bot.replies("DU1", 2)]
    assert sorted(replies) == sorted([notice, escape(ORDER_ANSWER)])


async def test_an_over_long_profile_name_is_cut_to_fit(bot: SlackBot) -> None:
    bot.slack.add_user("U3", "x", display_name="Ж" * 300)
    response = await bot.slack.post_event(bot.events_url, bot.slack.dm("U3", "where is my order?"))
    assert response.status_code == 200
    await bot.replies("DU3", 1)
    assert (await _identity(bot, "U3")).display_name == "Ж" * 200


async def test_a_retried_event_gets_one_reply(bot: SlackBot) -> None:
    body = bot.slack.event_callback(bot.slack.dm("U1", "where is my order?"))
    # Slack retries when the first delivery is slow: both arrive, overlapping.
    first, retry = await asyncio.gather(
        bot.slack.post(bot.events_url, body), bot.slack.post(bot.events_url, body, retry_num=1)
    )
    late = await bot.slack.post(bot.events_url, body, retry_num=2)
    assert {first.status_code, retry.status_code, late.status_code} == {200}
    # A later message's reply proves the retries' turns are over.
    await bot.slack.post_event(bot.events_url, bot.slack.dm("U1", "thanks"))
    replies = await bot.replies("DU1", 2)
    assert replies[0]["text"] == escape(ORDER_ANSWER)
    assert len(bot.slack.calls("chat.postMessage")) == 2
    inbound = [m for m in await bot.transcript("DU1") if m.direction == Direction.IN]
    assert [m.text for m in inbound] == ["where is my order?", "thanks"]


async def test_own_and_other_bots_messages_are_ignored(bot: SlackBot) -> None:
    slack = bot.slack
    # The bot's own replies come back as message.im events in the DM.
    own = {**slack.dm("U1", "Order answer"), "user": slack.bot_user_id, "bot_id": slack.bot_id}
    other = {**slack.dm("U1", "beep"), "user": "U0OTHER", "bot_id": "B0OTHER"}
    other_classic = {**slack.dm("U1", "beep"), "subtype": "bot_message", "bot_id": "B0OTHER"}
    edited = slack.dm("U1", "", subtype="message_changed")
    for event in (own, other, other_classic, edited):
        assert (await slack.post_event(bot.events_url, event)).status_code == 200
    await slack.post_event(bot.events_url, slack.dm("U1", "where is my order?"))
    await bot.replies("DU1", 1)
    assert len(slack.calls("chat.postMessage")) == 1
    inbound = [m for m in await bot.transcript("DU1") if m.direction == Direction.IN]
    assert [m.text for m in inbound] == ["where is my order?"]


# --- buttons -------------------------------------------------------------------------


async def test_a_button_press_is_answered_and_the_message_updated(bot: SlackBot) -> None:
    slack = bot.slack
    await slack.post_event(bot.events_url, slack.dm("U1", "blorp zzz qqq"))
    [clarify] = await bot.replies("DU1", 1)
    [actions] = [b for b in clarify["blocks"] if b["type"] == "actions"]
    titles = [e["text"]["text"] for e in actions["elements"]]
    assert actions["elements"][-1]["value"] == "/human"
    assert all(f"{i}. {t}" in clarify["text"] for i, t in enumerate(titles, 1))  # fallback
    ts = slack.posted("DU1")[0]["ts"]
    press = slack.press("DU1", ts, user="U1", index=0)
    response = await slack.post(bot.events_url, press, interactive=True)
    assert response.status_code == 200
    [update] = await slack.wait_for("chat.update")
    assert (update.args["channel"], update.args["ts"]) == ("DU1", ts)
    assert not [b for b in update.args["blocks"] if b["type"] == "actions"]
    assert titles[0] in update.args["blocks"][-1]["elements"][0]["text"]
    replies = await bot.replies("DU1", 2)
    faq_id = actions["elements"][0]["value"].split()[1]
    assert replies[1]["text"] == escape(KB.entries[faq_id].answers["en"])
    # A second press on the same message (a double click) is acknowledged, not answered.
    again = await slack.post(bot.events_url, press, interactive=True)
    assert again.status_code == 200
    stored = [m for m in await bot.transcript("DU1") if m.direction == Direction.IN]
    assert [m.payload for m in stored] == [None, actions["elements"][0]["value"]]


async def test_a_typed_number_picks_an_offered_button(bot: SlackBot) -> None:
    # For clients that show only the text fallback: "1" means the first option.
    await bot.slack.post_event(bot.events_url, bot.slack.dm("U1", "blorp zzz qqq"))
    [clarify] = await bot.replies("DU1", 1)
    [actions] = [b for b in clarify["blocks"] if b["type"] == "actions"]
    await bot.slack.post_event(bot.events_url, bot.slack.dm("U1", "1"))
    replies = await bot.replies("DU1", 2)
    faq_id = actions["elements"][0]["value"].split()[1]
    assert replies[1]["text"] == escape(KB.entries[faq_id].answers["en"])


# --- delivery errors -----------------------------------------------------------------


async def test_a_dm_that_is_gone_marks_the_customer_unreachable(bot: SlackBot) -> None:
    bot.slack.fail("chat.postMessage", "channel_not_found")
    await bot.slack.post_event(bot.events_url, bot.slack.dm("U1", "where is my order?"))
    await bot.slack.wait_for("chat.postMessage")
    outbound = await _settled_reply(bot, "DU1")
    assert outbound.delivery == Delivery.FAILED
    assert "channel_not_found" in (outbound.last_error or "")
    assert (await _identity(bot, "U1")).unreachable_at is not None


async def test_a_channel_without_the_app_fails_the_reply_only(bot: SlackBot) -> None:
    bot.slack.fail("chat.postMessage", "not_in_channel")
    mention = bot.slack.mention("U1", "where is my order?")
    await bot.slack.post_event(bot.events_url, mention)
    outbound = await _settled_reply(bot, f"C0SUPPORT:{mention['ts']}")
    assert outbound.delivery == Delivery.FAILED and outbound.attempts == 1
    assert (await _identity(bot, "U1")).unreachable_at is None
    # The same person's DM still works.
    await bot.slack.post_event(bot.events_url, bot.slack.dm("U1", "where is my order?"))
    [reply] = await bot.replies("DU1", 1)
    assert reply["text"] == escape(ORDER_ANSWER)


async def _identity(bot: SlackBot, user: str) -> ChannelIdentity:
    async with bot.engine.db.transaction() as session:
        stmt = select(ChannelIdentity).where(ChannelIdentity.external_id == user)
        return (await session.scalars(stmt)).one()


async def _settled_reply(bot: SlackBot, key: str) -> Message:
    """The reply row once the engine has recorded how its send went (only the row says)."""
    replies: list[Message] = []

    async def settled() -> bool:
        replies[:] = [m for m in await bot.transcript(key) if m.direction == Direction.OUT]
        return bool(replies) and replies[0].delivery != Delivery.PENDING

    await wait_until(settled, within=10, what=f"the reply to {key} settled", every=0.05)
    return replies[0]


# --- Socket Mode ---------------------------------------------------------------------


async def test_socket_mode_event_is_acked_and_answered(socket_bot: SlackBot) -> None:
    slack = socket_bot.slack
    await slack.wait_connected()
    [opened] = slack.calls("apps.connections.open")
    assert opened.token == slack.app_token
    envelope = await slack.push(slack.event_callback(slack.dm("U1", "where is my order?")))
    assert await slack.acked(envelope) == {"envelope_id": envelope}
    [reply] = await socket_bot.replies("DU1", 1)
    assert reply["text"] == escape(ORDER_ANSWER)


async def test_socket_mode_button_press(socket_bot: SlackBot) -> None:
    slack = socket_bot.slack
    await slack.push(slack.event_callback(slack.dm("U1", "blorp zzz qqq")))
    await socket_bot.replies("DU1", 1)
    ts = slack.posted("DU1")[0]["ts"]
    envelope = await slack.push(slack.press("DU1", ts, user="U1"), kind="interactive")
    assert (await slack.acked(envelope))["envelope_id"] == envelope
    await slack.wait_for("chat.update")
    await socket_bot.replies("DU1", 2)


async def test_socket_mode_reconnects_when_slack_asks(socket_bot: SlackBot) -> None:
    slack = socket_bot.slack
    await slack.wait_connected()
    await slack.disconnect_socket()
    await slack.wait_connected(2)
    assert len(slack.calls("apps.connections.open")) == 2
    envelope = await slack.push(slack.event_callback(slack.dm("U1", "where is my order?")))
    await slack.acked(envelope)
    await socket_bot.replies("DU1", 1)
