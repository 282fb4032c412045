"""The agent desk through the real engine: triggers, silence while a human has the chat,
claim / reply / hand back / resolve / transfer / note, CSAT, business hours, nobody
online, queue timeouts and positions. SQLite and PostgreSQL; a controllable clock."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import ColumnElement

from bot.desk.policy import Conflict, DeskError, NotAllowed
from bot.events import EventKind
from bot.handoff import State
from bot.storage.database import Database
from bot.storage.models import (
    AgentNote,
    Delivery,
    Direction,
    Message,
    SurveyRequest,
    SurveyResponse,
    Ticket,
)
from tests.support.desk import SUNDAY, DeskRig, make_rig, test_policy
from tests.support.stored_rows import Row, stored_rows
from tests.support.waiting import wait_until


@pytest.fixture
async def rig(db: Database) -> DeskRig:
    return await make_rig(db)


async def rows(rig: DeskRig, model: type[Row], *where: ColumnElement[bool]) -> list[Row]:
    return await stored_rows(rig.db, model, *where)


# --- into the queue -------------------------------------------------------------------------


async def test_asking_for_a_person_queues_and_tells_the_position(rig: DeskRig) -> None:
    await rig.add_agent("priya")
    replies = await rig.push("/human")
    assert replies == [rig.phrase("handoff_requested"), rig.phrase("handoff_next_in_line")]
    conversation = await rig.conversation()
    assert conversation.state == State.QUEUED
    assert conversation.queued_at is not None and conversation.handoff_reason == "customer_asked"
    assert await rig.transitions() == [("bot", "queued", "customer_asked")]


async def test_the_intent_queues_like_the_command(rig: DeskRig) -> None:
    await rig.add_agent("priya")
    await rig.push("I want to talk to a person")
    assert (await rig.conversation()).state == State.QUEUED


async def test_low_confidence_twice_queues(rig: DeskRig) -> None:
    await rig.add_agent("priya")
    first = await rig.push("blorp zzz")
    assert first == [rig.phrase("clarify")]
    second = await rig.push("qwerty uiop")
    assert second[0] == rig.phrase("handoff_low_confidence")
    assert await rig.transitions() == [("bot", "queued", "low_confidence")]


async def test_repeated_anger_queues_but_one_angry_word_does_not(rig: DeskRig) -> None:
    await rig.add_agent("priya")
    assert await rig.push("where is my order") != []
    once = await rig.push("this is useless")
    assert rig.phrase("handoff_frustration") not in once
    assert (await rig.conversation()).state == State.BOT
    again = await rig.push("WHY IS NOTHING WORKING???")
    assert again[0] == rig.phrase("handoff_frustration")
    assert await rig.transitions() == [("bot", "queued", "frustration")]
    [latest, *_] = sorted(
        await rows(rig, Message, Message.direction == Direction.IN), key=lambda m: -m.id
    )
    assert latest.nlu is not None and "shouting:punctuation" in latest.nlu["negative"]


async def test_frustration_in_hindi_and_gujarati(rig: DeskRig) -> None:
    await rig.add_agent("priya", languages=["hi", "gu", "en"])
    await rig.push("यह बकवास है")
    await rig.push("બહુ ખરાબ સેવા, કોઈ મદદ નથી")
    assert await rig.transitions() == [("bot", "queued", "frustration")]


# --- silence while a human has the chat -------------------------------------------------------


async def test_the_bot_is_silent_while_queued_and_while_owned(rig: DeskRig) -> None:
    priya = await rig.add_agent("priya")
    await rig.push("/human")
    calls = rig.nlu.calls
    async with rig.desk.events.subscribe() as events:
        assert await rig.push("where is my order") == []
        event = await asyncio.wait_for(events.next(), 5)
    assert event.kind == EventKind.MESSAGE and event.data["message"]["text"] == "where is my order"
    conversation = await rig.conversation()
    await rig.desk.claim(priya, conversation.id)
    assert await rig.push("hello") == []
    assert await rig.push("/human") == []
    assert rig.nlu.calls == calls  # the model was not even asked
    inbound = await rows(rig, Message, Message.direction == Direction.IN)
    assert [m.text for m in inbound][-3:] == ["where is my order", "hello", "/human"]
    assert all(m.delivery == Delivery.PROCESSED for m in inbound)


async def test_a_chat_claimed_while_the_bot_was_thinking_gets_no_bot_answer(
    rig: DeskRig,
) -> None:
    """The agent claims between the message being stored and the bot's answer."""
    priya = await rig.add_agent("priya")
    await rig.push("hello")
    conversation = await rig.conversation()
    claimed = asyncio.Event()
    claiming: list[asyncio.Task[None]] = []

    async def agent_claims_now() -> None:
        async def claim() -> None:
            await rig.desk.claim(priya, conversation.id)

        task = asyncio.create_task(claim())
        claiming.append(task)

        # The claim commits now (telling the customer waits for this turn's lock); the
        # only signal of the commit is the row itself, so look at it.
        async def committed() -> bool:
            return (await rig.conversation()).state == State.AGENT

        await wait_until(committed, within=10, what="the claim committed")
        claimed.set()

    rig.nlu.while_parsing = agent_claims_now
    replies = await rig.push("where is my order")
    await asyncio.wait_for(claiming[0], 10)
    assert claimed.is_set()
    assert replies == []  # the bot did not answer a chat an agent now owns
    assert rig.sent()[-1].text == rig.phrase("agent_joined", agent="priya")
    [*_, last] = await rows(rig, Message, Message.direction == Direction.IN)
    assert last.text == "where is my order" and last.delivery == Delivery.PROCESSED


# --- claim, reply, hand back, resolve, transfer, note -----------------------------------------


async def test_claim_tells_the_customer_and_a_second_claim_is_refused(rig: DeskRig) -> None:
    priya = await rig.add_agent("priya")
    ravi = await rig.add_agent("ravi")
    await rig.push("/human")
    conversation = await rig.conversation()
    await rig.desk.claim(priya, conversation.id)
    assert rig.sent()[-1].text == rig.phrase("agent_joined", agent="priya")
    with pytest.raises(Conflict, match="priya already has this chat"):
        await rig.desk.claim(ravi, conversation.id)
    await rig.desk.claim(priya, conversation.id)  # claiming one's own chat again is a no-op
    assert await rig.transitions() == [
        ("bot", "queued", "customer_asked"),
        ("queued", "agent", "agent_claimed"),
    ]


async def test_an_agent_may_take_over_a_chat_the_bot_is_handling(rig: DeskRig) -> None:
    priya = await rig.add_agent("priya")
    await rig.push("hello")
    await rig.desk.claim(priya, (await rig.conversation()).id)
    assert await rig.transitions() == [("bot", "agent", "agent_claimed")]


async def test_agent_reply_reaches_the_customer_through_the_outbox(rig: DeskRig) -> None:
    priya = await rig.add_agent("priya")
    await rig.push("/human")
    conversation = await rig.conversation()
    with pytest.raises(NotAllowed, match="Claim this chat first"):
        await rig.desk.reply(priya, conversation.id, "hi")
    await rig.desk.claim(priya, conversation.id)
    await rig.desk.reply(priya, conversation.id, "  Hello Alice, let me check your order.  ")
    last = rig.sent()[-1]
    assert (last.text, last.sender) == ("Hello Alice, let me check your order.", "agent")
    [stored] = await rows(rig, Message, Message.sender == "agent")
    assert stored.agent_id == priya and stored.delivery == Delivery.SENT
    with pytest.raises(DeskError, match="empty"):
        await rig.desk.reply(priya, conversation.id, "   ")
    with pytest.raises(DeskError, match="at most"):
        await rig.desk.reply(priya, conversation.id, "x" * 4001)


async def test_a_failed_agent_reply_stays_in_the_outbox(rig: DeskRig) -> None:
    priya = await rig.add_agent("priya")
    await rig.push("/human")
    conversation = await rig.conversation()
    await rig.desk.claim(priya, conversation.id)
    rig.channel.fail_sends = 1
    await rig.desk.reply(priya, conversation.id, "are you there?")
    [pending] = await rows(rig, Message, Message.sender == "agent")
    assert pending.delivery == Delivery.PENDING
    assert await rig.engine.flush_outbox() == 1
    assert rig.sent()[-1].text == "are you there?"


async def test_only_the_owner_replies_and_only_owner_or_admin_resolves(rig: DeskRig) -> None:
    priya = await rig.add_agent("priya")
    ravi = await rig.add_agent("ravi")
    boss = await rig.add_agent("boss", role="admin")
    await rig.push("/human")
    conversation = await rig.conversation()
    await rig.desk.claim(priya, conversation.id)
    with pytest.raises(NotAllowed, match="priya has this chat"):
        await rig.desk.reply(ravi, conversation.id, "hi")
    with pytest.raises(NotAllowed):
        await rig.desk.resolve(ravi, conversation.id)
    with pytest.raises(NotAllowed):
        await rig.desk.hand_back(ravi, conversation.id)
    await rig.desk.resolve(boss, conversation.id)
    assert (await rig.conversation()).state == State.RESOLVED


async def test_hand_back_greets_again_in_the_customers_language(rig: DeskRig) -> None:
    priya = await rig.add_agent("priya", languages=["gu"])
    await rig.push("મારે કોઈ વ્યક્તિ સાથે વાત કરવી છે")  # unsure once
    await rig.push("/human")
    conversation = await rig.conversation()
    await rig.desk.claim(priya, conversation.id)
    await rig.desk.hand_back(priya, conversation.id)
    assert rig.sent()[-1].text == rig.phrase("handback_greeting", "gu")
    assert (await rig.conversation()).state == State.BOT
    # The bot answers on its own again.
    assert await rig.push("where is my order") != []
    assert (await rig.transitions())[-1] == ("agent", "bot", "agent_handed_back")


async def test_resolve_asks_for_csat_and_stores_one_rating(rig: DeskRig) -> None:
    priya = await rig.add_agent("priya")
    await rig.push("/human")
    conversation = await rig.conversation()
    await rig.desk.claim(priya, conversation.id)
    await rig.desk.resolve(priya, conversation.id)
    question = rig.sent()[-1]
    assert question.text == rig.phrase("csat_request")
    [request] = await rows(rig, SurveyRequest)
    assert (request.kind, request.occasion, request.agent_id) == ("csat", "agent_resolved", priya)
    payloads = [b.payload for b in question.buttons]
    assert payloads == [f"/survey {request.id} {n}" for n in range(1, 6)]
    assert await rig.push("4 ★", payload=payloads[3]) == [rig.phrase("survey_thanks")]
    assert (await rig.conversation()).state == State.RESOLVED  # a rating is not a new request
    assert await rig.push("5 ★", payload=payloads[4]) == [rig.phrase("survey_thanks")]
    [rating] = await rows(rig, SurveyResponse)
    assert (rating.request_id, rating.score) == (request.id, 4)


async def test_writing_after_resolved_returns_to_the_bot(rig: DeskRig) -> None:
    priya = await rig.add_agent("priya")
    await rig.push("/human")
    conversation = await rig.conversation()
    await rig.desk.claim(priya, conversation.id)
    await rig.desk.resolve(priya, conversation.id)
    assert await rig.push("hello") == [rig.phrase("greet")]
    assert (await rig.transitions())[-2:] == [
        ("agent", "resolved", "resolved"),
        ("resolved", "bot", "customer_returned"),
    ]


async def test_transfer_to_an_online_colleague_with_room(rig: DeskRig) -> None:
    priya = await rig.add_agent("priya")
    ravi = await rig.add_agent("ravi", languages=["hi"])
    away = await rig.add_agent("asha", online=False)
    await rig.push("/human")
    conversation = await rig.conversation()
    await rig.desk.claim(priya, conversation.id)
    with pytest.raises(Conflict, match="asha is not online"):
        await rig.desk.transfer(priya, conversation.id, away)
    await rig.desk.transfer(priya, conversation.id, ravi)
    assert (await rig.conversation()).agent_id == ravi
    assert rig.sent()[-1].text == rig.phrase("agent_joined", agent="ravi")
    assert (await rig.transitions())[-1] == ("agent", "agent", "transferred")
    with pytest.raises(NotAllowed):
        await rig.desk.reply(priya, conversation.id, "still me?")


async def test_internal_notes_never_reach_the_customer(rig: DeskRig) -> None:
    priya = await rig.add_agent("priya")
    await rig.push("/human")
    conversation = await rig.conversation()
    before = len(rig.channel.sent)
    await rig.desk.note(priya, conversation.id, "VIP customer, refund approved")
    assert len(rig.channel.sent) == before
    [note] = await rows(rig, AgentNote)
    assert (note.author, note.text) == ("priya", "VIP customer, refund approved")
    texts = [
        m.text for m in await rig.engine.transcript(channel="fake", conversation_key="chat-alice")
    ]
    assert "VIP customer, refund approved" not in texts


async def test_claiming_beyond_the_maximum_is_refused(rig: DeskRig) -> None:
    priya = await rig.add_agent("priya", max_chats=1)
    await rig.push("/human", user="alice")
    await rig.push("/human", user="bob")
    await rig.desk.claim(priya, (await rig.conversation("alice")).id)
    with pytest.raises(Conflict, match="maximum"):
        await rig.desk.claim(priya, (await rig.conversation("bob")).id)


# --- nobody there ----------------------------------------------------------------------------


async def test_nobody_online_opens_a_ticket_and_returns_to_the_bot(rig: DeskRig) -> None:
    await rig.add_agent("priya", online=False)
    await rig.push("where is my order")
    replies = await rig.push("/human")
    [ticket] = await rows(rig, Ticket)
    assert replies == [rig.phrase("handoff_no_agent", reference=ticket.reference)]
    assert "[customer] where is my order" in ticket.description
    assert (await rig.conversation()).state == State.BOT
    assert await rig.transitions() == [
        ("bot", "queued", "customer_asked"),
        ("queued", "bot", "no_agent_online"),
    ]
    assert await rig.push("where is my order") != []  # the bot keeps helping


async def test_an_agent_whose_console_went_quiet_is_not_online(rig: DeskRig) -> None:
    await rig.add_agent("priya")
    rig.clock.advance(seconds=91)  # no heartbeat within presence_timeout
    await rig.push("/human")
    assert (await rig.transitions())[-1] == ("queued", "bot", "no_agent_online")


async def test_out_of_hours_opens_a_ticket_and_says_when_we_open(db: Database) -> None:
    rig = await make_rig(db, start=SUNDAY)
    await rig.add_agent("priya")  # online, but it is Sunday
    replies = await rig.push("/human")
    [ticket] = await rows(rig, Ticket)
    expected = rig.phrase(
        "handoff_out_of_hours",
        reference=ticket.reference,
        hours="Mon-Fri 09:00-18:00 (Asia/Kolkata)",
        opens="2026-11-30 09:00 IST",
    )
    assert replies == [expected]
    assert (await rig.transitions())[-1] == ("queued", "bot", "out_of_hours")


async def test_nobody_online_can_still_queue_when_configured(db: Database) -> None:
    rig = await make_rig(db, policy=test_policy(require_online_agent=False))
    await rig.push("/human")
    assert (await rig.conversation()).state == State.QUEUED


# --- time in the queue -----------------------------------------------------------------------


async def test_an_unclaimed_chat_times_out_into_a_ticket(rig: DeskRig) -> None:
    await rig.add_agent("priya")
    await rig.push("/human")
    rig.clock.advance(minutes=9, seconds=59)
    assert await rig.desk.sweep() == 0
    assert (await rig.conversation()).state == State.QUEUED
    rig.clock.advance(seconds=2)
    assert await rig.desk.sweep() == 1
    [ticket] = await rows(rig, Ticket)
    assert rig.sent()[-1].text == rig.phrase("handoff_timed_out", reference=ticket.reference)
    assert (await rig.conversation()).state == State.BOT
    assert (await rig.transitions())[-1] == ("queued", "bot", "timed_out")
    assert await rig.desk.sweep() == 0  # once only


async def test_a_claimed_chat_never_times_out(rig: DeskRig) -> None:
    priya = await rig.add_agent("priya")
    await rig.push("/human")
    await rig.desk.claim(priya, (await rig.conversation()).id)
    rig.clock.advance(hours=3)
    assert await rig.desk.sweep() == 0
    assert await rows(rig, Ticket) == []


async def test_positions_are_told_and_updated_when_they_change_meaningfully(rig: DeskRig) -> None:
    priya = await rig.add_agent("priya", max_chats=5)
    users = ["u1", "u2", "u3", "u4", "u5"]
    for user in users:
        await rig.push("/human", user=user)
        rig.clock.advance(seconds=1)
    assert rig.sent("u1")[-1].text == rig.phrase("handoff_next_in_line")
    assert rig.sent("u5")[-1].text == rig.phrase("handoff_position", position=5)
    before = {user: len(rig.sent(user)) for user in users}
    await rig.desk.claim(priya, (await rig.conversation("u1")).id)
    # u2 is now first: told. u5 moved 5 -> 4 only (step is 2): not told.
    assert rig.sent("u2")[-1].text == rig.phrase("handoff_next_in_line")
    assert len(rig.sent("u5")) == before["u5"]
    await rig.desk.claim(priya, (await rig.conversation("u2")).id)
    # u5 moved 5 -> 3 since last told: told now.
    assert rig.sent("u5")[-1].text == rig.phrase("handoff_position_update", position=3)


async def test_take_next_prefers_the_agents_language(rig: DeskRig) -> None:
    anita = await rig.add_agent("anita", languages=["hi"])
    await rig.push("where is my order", user="en1")
    await rig.push("/human", user="en1")
    rig.clock.advance(seconds=5)
    await rig.push("मेरा ऑर्डर कहाँ है", user="hi1")
    await rig.push("/human", user="hi1")
    picked = await rig.desk.take_next(anita)
    assert picked == (await rig.conversation("hi1")).id
    assert await rig.desk.take_next(anita) == (await rig.conversation("en1")).id
    assert await rig.desk.take_next(anita) is None
