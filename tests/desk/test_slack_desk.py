"""The Slack agent desk end to end: the real bolt app and Web API client against the fake
Slack, signed events and button presses, the real engine and desk (SQLite and PostgreSQL)
with a customer on another channel (FakeChannel), and the console's side through Desk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

import pytest
from sqlalchemy import select

from bot.app import attach_slack_desk
from bot.channels.slack.channel import SlackChannel
from bot.desk.accounts import set_slack_user
from bot.desk.slack import NOTE_PREFIX, SlackDesk
from bot.desk.slack_cards import action_id
from bot.events import DeskEvent, EventKind
from bot.handoff import State
from bot.settings import SlackSettings
from bot.storage.database import Database
from bot.storage.models import AgentNote, Conversation, DeskThread
from bot.web.app import create_web_app
from tests.support.desk import DeskRig, make_rig
from tests.support.fake_slack import FakeSlack, SlackCall
from tests.support.server import serve

AGENTS = "C0AGENTS"
BOB = "U0BOB"  # mapped to agent bob
EVE = "U0EVE"  # a Slack user who is no agent


@dataclass
class SlackDeskRig:
    rig: DeskRig
    slack: FakeSlack
    channel: SlackChannel
    desk: SlackDesk
    events_url: str
    bob: int

    async def hand_off(self, user: str = "alice") -> tuple[int, str]:
        """The customer asks for a person; returns the conversation and its thread's ts."""
        opened = self.desk.threads_opened
        await self.rig.push("hello", user=user)
        await self.rig.push("/human", user=user)
        conversation = await self.rig.conversation(user)
        await self.slack.wait_for("chat.postMessage", where=lambda c: _card_of(c, conversation.id))
        await asyncio.wait_for(self.desk.wait_opened(opened + 1), 10)
        async with self.rig.db.transaction() as session:
            thread = await session.scalar(
                select(DeskThread).where(DeskThread.conversation_id == conversation.id)
            )
        assert thread is not None and thread.slack_channel == AGENTS
        return conversation.id, thread.thread_ts

    async def press(self, ts: str, action: str, *, user: str) -> None:
        message = self.slack.messages[(AGENTS, ts)]
        buttons = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
        index = [b["action_id"] for b in buttons].index(action_id(action))
        response = await self.slack.post(
            self.events_url, self.slack.press(AGENTS, ts, user=user, index=index), interactive=True
        )
        assert response.status_code == 200

    async def reply_in_thread(self, ts: str, text: str, *, user: str) -> None:
        event = self.slack.channel_message(user, text, channel=AGENTS, thread_ts=ts)
        response = await self.slack.post_event(self.events_url, event)
        assert response.status_code == 200

    async def in_thread(self, ts: str, contains: str) -> SlackCall:
        [call] = await self.slack.wait_for(
            "chat.postMessage",
            where=lambda c: c.args.get("thread_ts") == ts and contains in c.args["text"],
        )
        return call

    async def card_update(self, ts: str, contains: str) -> SlackCall:
        calls = await self.slack.wait_for(
            "chat.update", where=lambda c: c.args["ts"] == ts and contains in c.args["text"]
        )
        return calls[-1]

    async def told(self, user: str, contains: str) -> SlackCall:
        calls = await self.slack.wait_for(
            "chat.postEphemeral",
            where=lambda c: c.args["user"] == user and contains in c.args["text"],
        )
        return calls[-1]

    async def state(self, conversation_id: int) -> tuple[State, int | None]:
        async with self.rig.db.transaction() as session:
            conversation = await session.get(Conversation, conversation_id)
            assert conversation is not None
            return State(conversation.state.value), conversation.agent_id


def _card_of(call: SlackCall, conversation_id: int) -> bool:
    if call.args.get("channel") != AGENTS or call.args.get("thread_ts"):
        return False
    values = {
        e.get("value")
        for b in call.args.get("blocks") or []
        if b.get("type") == "actions"
        for e in b["elements"]
    }
    return str(conversation_id) in values


@asynccontextmanager
async def desk_event(
    rig: DeskRig, matches: Callable[[DeskEvent], bool], within: float = 10.0
) -> AsyncIterator[None]:
    """Wait, after the body ran, for a desk event it caused."""
    async with rig.desk.events.subscribe() as events:
        yield
        async with asyncio.timeout(within):
            async for event in events:
                if matches(event):
                    return


def agent_message(event: DeskEvent) -> bool:
    return event.kind == EventKind.MESSAGE and event.data["message"]["sender"] == "agent"


@asynccontextmanager
async def running_desk(
    db: Database, *, mode: Literal["http", "socket"] = "http"
) -> AsyncIterator[SlackDeskRig]:
    """The engine, desk, Slack channel and Slack desk wired as ``helpdesk run`` wires them."""
    rig = await make_rig(db)
    async with FakeSlack() as slack:
        slack.add_user(BOB, "bob")
        slack.add_user(EVE, "eve")
        channel = SlackChannel(
            SlackSettings(mode=mode, base_url=slack.base_url),
            bot_token=slack.bot_token,
            signing_secret=slack.signing_secret,
            app_token=slack.app_token if mode == "socket" else None,
        )
        await channel.start(rig.engine.receive)
        slack_desk = attach_slack_desk(rig.desk, [channel], slack_channel=AGENTS)
        assert slack_desk is not None
        bob = await rig.add_agent("bob")
        await set_slack_user(db, name="bob", slack_user=BOB)

        async def readiness() -> dict[str, object]:
            return {"ready": True}

        app = create_web_app(
            engine=rig.engine, webchat=None, readiness=readiness, routes=channel.routes()
        )
        mirror = asyncio.create_task(slack_desk.run())
        try:
            await asyncio.wait_for(slack_desk.listening.wait(), 5)
            async with serve(app) as address:
                yield SlackDeskRig(
                    rig, slack, channel, slack_desk, f"http://{address}/slack/events", bob
                )
        finally:
            await slack_desk.stop()
            mirror.cancel()
            await asyncio.gather(mirror, return_exceptions=True)
            await channel.stop()


@pytest.fixture
async def desk(db: Database) -> AsyncIterator[SlackDeskRig]:
    async with running_desk(db) as running:
        yield running


# --- a handoff opens a thread -----------------------------------------------------------


async def test_a_handoff_opens_a_thread_with_who_why_the_last_turns_and_buttons(
    desk: SlackDeskRig,
) -> None:
    conversation_id, ts = await desk.hand_off()
    card = desk.slack.messages[(AGENTS, ts)]
    assert "*Alice* needs a person · fake · en" in card["text"]
    assert "Waiting for an agent" in card["text"]
    text = "\n".join(b["text"]["text"] for b in card["blocks"] if b["type"] == "section")
    assert "*Why:* the customer asked for a person" in text
    assert "*Alice:* hello" in text and "*Alice:* /human" in text
    [actions] = [b for b in card["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == [
        "helpdesk_desk_claim",
        "helpdesk_desk_hand_back",
        "helpdesk_desk_resolve",
    ]
    assert {e["value"] for e in actions["elements"]} == {str(conversation_id)}
    # One thread per conversation: a later message while queued goes into it.
    await desk.rig.push("are you there?")
    await desk.in_thread(ts, "*Alice:* are you there?")
    assert (
        len([c for c in desk.slack.calls("chat.postMessage") if _card_of(c, conversation_id)]) == 1
    )


# --- agents acting from Slack ----------------------------------------------------------------


async def test_a_signed_thread_reply_from_a_mapped_agent_reaches_the_customer(
    desk: SlackDeskRig,
) -> None:
    conversation_id, ts = await desk.hand_off()
    await desk.press(ts, "claim", user=BOB)
    await desk.card_update(ts, "bob")
    assert await desk.state(conversation_id) == (State.AGENT, desk.bob)
    await desk.in_thread(ts, "bob claimed this chat")
    assert desk.rig.sent()[-1].text == desk.rig.phrase("agent_joined", agent="bob")

    async with desk_event(desk.rig, agent_message):
        await desk.reply_in_thread(ts, "Your parcel left the depot &amp; arrives today", user=BOB)
    sent = desk.rig.sent()[-1]
    assert (sent.text, sent.sender) == ("Your parcel left the depot & arrives today", "agent")
    # Typed in the thread: not echoed back into it (the mirror works in order, so once the
    # customer's next message is in the thread, an echo would be too).
    await desk.rig.push("great, thanks")
    await desk.in_thread(ts, "*Alice:* great, thanks")
    assert not [c for c in desk.slack.calls("chat.postMessage") if "(console)" in c.args["text"]]
    # ...and the agents' channel is no customer: no Slack conversation was opened.
    async with desk.rig.db.transaction() as session:
        channels = set(await session.scalars(select(Conversation.channel)))
    assert channels == {"fake"}


async def test_resolving_in_slack_asks_the_customer_for_a_rating_and_retires_the_buttons(
    desk: SlackDeskRig,
) -> None:
    conversation_id, ts = await desk.hand_off()
    await desk.press(ts, "claim", user=BOB)
    await desk.card_update(ts, "bob")
    await desk.press(ts, "resolve", user=BOB)
    await desk.card_update(ts, "Resolved by bob")
    assert (await desk.state(conversation_id))[0] == State.RESOLVED
    assert [b.payload for b in desk.rig.sent()[-1].buttons] == [
        f"/survey 1 {n}" for n in range(1, 6)
    ]
    card = desk.slack.messages[(AGENTS, ts)]
    assert not [b for b in card["blocks"] if b["type"] == "actions"]


async def test_a_reply_before_claiming_is_refused_and_not_sent(desk: SlackDeskRig) -> None:
    _, ts = await desk.hand_off()
    before = len(desk.rig.sent())
    await desk.reply_in_thread(ts, "hi there", user=BOB)
    await desk.told(BOB, "Not sent: Claim this chat first.")
    assert len(desk.rig.sent()) == before


async def test_a_note_in_the_thread_stays_with_the_agents(desk: SlackDeskRig) -> None:
    conversation_id, ts = await desk.hand_off()
    before = len(desk.rig.sent())
    async with desk_event(desk.rig, lambda e: e.kind == EventKind.NOTE):
        await desk.reply_in_thread(ts, f"{NOTE_PREFIX} VIP customer", user=BOB)
    async with desk.rig.db.transaction() as session:
        notes = list(await session.scalars(select(AgentNote)))
    assert [(n.conversation_id, n.author, n.text) for n in notes] == [
        (conversation_id, "bob", "VIP customer")
    ]
    assert len(desk.rig.sent()) == before


async def test_an_unmapped_slack_user_cannot_act(desk: SlackDeskRig) -> None:
    conversation_id, ts = await desk.hand_off()
    before = len(desk.rig.sent())
    await desk.press(ts, "claim", user=EVE)
    told = await desk.told(EVE, "not set up as an agent")
    assert told.args["thread_ts"] == ts and told.args["channel"] == AGENTS
    await desk.reply_in_thread(ts, "I can help!", user=EVE)
    assert len(await desk.slack.wait_for("chat.postEphemeral", 2)) == 2
    assert await desk.state(conversation_id) == (State.QUEUED, None)
    assert len(desk.rig.sent()) == before
    assert not desk.slack.calls("chat.update")


async def test_a_claim_by_someone_else_is_refused_with_the_owner_named(
    desk: SlackDeskRig,
) -> None:
    conversation_id, ts = await desk.hand_off()
    await desk.rig.add_agent("priya")
    await set_slack_user(desk.rig.db, name="priya", slack_user="U0PRIYA")
    await desk.press(ts, "claim", user=BOB)
    await desk.card_update(ts, "bob")
    await desk.press(ts, "hand_back", user="U0PRIYA")
    await desk.told("U0PRIYA", "bob has this chat.")
    assert await desk.state(conversation_id) == (State.AGENT, desk.bob)


async def test_forged_events_change_nothing(desk: SlackDeskRig) -> None:
    conversation_id, ts = await desk.hand_off()
    payload = desk.slack.press(AGENTS, ts, user=BOB)
    forged = await desk.slack.post(desk.events_url, payload, interactive=True, tamper=True)
    assert forged.status_code == 401
    event = desk.slack.channel_message(BOB, "hi", channel=AGENTS, thread_ts=ts)
    stale = await desk.slack.post_event(desk.events_url, event, timestamp=1_600_000_000)
    assert stale.status_code == 401
    assert await desk.state(conversation_id) == (State.QUEUED, None)


# --- the console and Slack agree -----------------------------------------------------------


async def test_a_console_claim_and_reply_show_in_the_thread(desk: SlackDeskRig) -> None:
    conversation_id, ts = await desk.hand_off()
    await desk.rig.desk.claim(desk.bob, conversation_id)  # what the console's Claim calls
    update = await desk.card_update(ts, "bob")
    [actions] = [b for b in update.args["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == [
        "helpdesk_desk_hand_back",
        "helpdesk_desk_resolve",
    ]
    await desk.in_thread(ts, "bob claimed this chat")
    await desk.rig.desk.reply(desk.bob, conversation_id, "Looking into it <now>")
    await desk.in_thread(ts, "*bob* (console): Looking into it &lt;now&gt;")
    await desk.rig.push("thanks, waiting")
    await desk.in_thread(ts, "*Alice:* thanks, waiting")
    await desk.rig.desk.hand_back(desk.bob, conversation_id)
    await desk.in_thread(ts, "bob handed this chat back to the bot")
    await desk.card_update(ts, "Back with the bot")


async def test_a_customer_who_returns_to_the_queue_reuses_the_thread(desk: SlackDeskRig) -> None:
    conversation_id, ts = await desk.hand_off()
    await desk.rig.desk.hand_back(desk.bob, conversation_id)
    await desk.card_update(ts, "Back with the bot")
    await desk.rig.push("/human")
    await desk.in_thread(ts, "Waiting for an agent again")
    card = await desk.card_update(ts, "Waiting for an agent")
    assert any(b["type"] == "actions" for b in card.args["blocks"])
    assert (
        len([c for c in desk.slack.calls("chat.postMessage") if _card_of(c, conversation_id)]) == 1
    )


# --- set-up -------------------------------------------------------------------------------


async def test_without_the_slack_channel_the_desk_stays_off(desk: SlackDeskRig) -> None:
    assert attach_slack_desk(desk.rig.desk, [], slack_channel=AGENTS) is None
    assert attach_slack_desk(desk.rig.desk, [desk.channel], slack_channel=None) is None


async def test_socket_mode_carries_the_desk_too(db: Database) -> None:
    async with running_desk(db, mode="socket") as desk:
        conversation_id, ts = await desk.hand_off()
        press = desk.slack.press(AGENTS, ts, user=BOB, index=0)
        envelope = await desk.slack.push(press, kind="interactive")
        assert (await desk.slack.acked(envelope))["envelope_id"] == envelope
        await desk.card_update(ts, "bob")
        assert await desk.state(conversation_id) == (State.AGENT, desk.bob)
        reply = desk.slack.channel_message(BOB, "On it!", channel=AGENTS, thread_ts=ts)
        async with desk_event(desk.rig, agent_message):
            envelope = await desk.slack.push(desk.slack.event_callback(reply))
        assert await desk.slack.acked(envelope) == {"envelope_id": envelope}
        assert desk.rig.sent()[-1].text == "On it!"


async def test_a_chat_nobody_claims_times_out_in_the_thread_too(desk: SlackDeskRig) -> None:
    _, ts = await desk.hand_off()
    desk.rig.clock.advance(minutes=11)  # past the test policy's 10-minute queue timeout
    assert await desk.rig.desk.sweep() == 1
    await desk.in_thread(ts, "Nobody claimed this chat in time; it became ticket HD-")
    card = await desk.card_update(ts, "Back with the bot")
    assert not [b for b in card.args["blocks"] if b["type"] == "actions"]
