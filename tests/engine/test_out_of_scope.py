"""A confident out-of-scope is an answer (a polite decline), never a ticket or a queue;
negative feedback is an apology, not "thank you for your feedback".

Real Rasa (the test knowledge base's model), the real desk, a fake clock in business
hours with no agent online: the situation in which a hand-off opens a ticket at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.knowledge.loader import load_knowledge_base
from bot.nlu.rasa_server import RasaSupervisor
from bot.reports.unanswered import split_out_of_scope
from bot.reports.unanswered_queries import unanswered_questions
from bot.storage.database import Database
from bot.storage.models import ConversationState, Feedback, HandoffEvent, Message, Ticket
from tests.conftest import TEST_KB
from tests.support.desk import DeskRig, make_rig
from tests.support.stored_rows import stored_rows

pytestmark = pytest.mark.rasa

KB = load_knowledge_base(TEST_KB)


@pytest.fixture
async def rig(db: Database, rasa: RasaSupervisor) -> AsyncIterator[DeskRig]:
    nlu = rasa.client()
    rig = await make_rig(db, nlu=nlu)
    yield rig
    await nlu.close()


async def declined_cleanly(rig: DeskRig, user: str = "alice") -> None:
    """Nothing was opened or queued for ``user``: no ticket, no hand-off, still the bot's."""
    assert await stored_rows(rig.db, Ticket) == []
    assert await stored_rows(rig.db, HandoffEvent) == []
    conversation = await rig.conversation(user)
    assert conversation.state == ConversationState.BOT
    assert conversation.low_confidence_streak == 0


@pytest.mark.parametrize("text", ["what's the weather in Paris", "tell me a joke"])
async def test_a_confident_out_of_scope_is_declined_with_topics(rig: DeskRig, text: str) -> None:
    [reply] = await rig.channel.push(text)
    assert reply.text == rig.phrase("out_of_scope")
    payloads = [b.payload for b in reply.buttons]
    assert payloads[-1] == "/human"
    topics = payloads[:-1]
    assert topics and all(p.startswith("/faq ") for p in topics)
    assert all(KB.get(p.removeprefix("/faq ")) is not None for p in topics)
    [message] = await stored_rows(rig.db, Message, Message.text == text)
    assert message.intent == "out_of_scope" and message.nlu is not None
    assert message.nlu["decision"] == "out_of_scope"
    await declined_cleanly(rig)


async def test_out_of_scope_turns_in_a_row_never_hand_over(rig: DeskRig) -> None:
    # Before, the second of these opened a ticket (clarify, then hand off).
    for text in ["what's the weather in Paris", "tell me a joke", "what's the weather in Paris"]:
        assert await rig.push(text) == [rig.phrase("out_of_scope")]
    await declined_cleanly(rig)
    # Unsure turns still hand over when repeated: that rule is unchanged.
    assert await rig.push("I was wondering") == [rig.phrase("clarify")]
    replies = await rig.push("I have a question")
    # No agent online: the desk opens a ticket at once.
    assert replies == [rig.phrase("handoff_no_agent", reference="HD-1001")]
    assert (await rig.transitions())[0] == ("bot", "queued", "low_confidence")


async def test_a_decline_is_in_the_customers_language(rig: DeskRig) -> None:
    [reply] = await rig.channel.push("आज दिल्ली में मौसम कैसा है?")
    assert reply.text == rig.phrase("out_of_scope", "hi")
    # The topic buttons read in Hindi where the entry has Hindi questions.
    order_status = KB.entries["order_status"].questions["hi"][0]
    assert order_status in [b.title for b in reply.buttons]
    await declined_cleanly(rig)


async def test_declined_questions_stay_out_of_the_faq_suggestions(rig: DeskRig) -> None:
    await rig.push("what's the weather in Paris", user="alice")
    await rig.push("tell me a joke", user="alice")
    await rig.push("I was wondering", user="bob")  # unsure: a gap worth looking at
    now = datetime.now(UTC)
    async with rig.db.transaction() as session:
        items = await unanswered_questions(
            session,
            start=now - timedelta(hours=1),
            end=now + timedelta(hours=1),
            answer_threshold=rig.engine.options.thresholds.confidence,
            default_language="en",
        )
    asked, declined = split_out_of_scope(items)
    assert [(u.text, u.source) for u in asked] == [("I was wondering", "clarification")]
    assert [(u.text, u.source) for u in declined] == [
        ("what's the weather in Paris", "out_of_scope"),
        ("tell me a joke", "out_of_scope"),
    ]


async def test_this_is_useless_is_not_thanked_for(rig: DeskRig) -> None:
    [reply] = await rig.channel.push("this is useless!!!")
    assert reply.text == rig.phrase("feedback_negative")
    assert reply.text != rig.phrase("feedback_thanks")
    assert [b.payload for b in reply.buttons] == ["/human"]
    async with rig.db.transaction() as session:
        [feedback] = (await session.scalars(select(Feedback))).all()
    assert feedback.kind == "complaint" and feedback.comment == "this is useless!!!"
    await declined_cleanly(rig)
    # Angry again: that is frustration, and a person takes over (here: a ticket).
    replies = await rig.push("you are not helping at all")
    assert replies == [rig.phrase("handoff_no_agent", reference="HD-1001")]
    assert (await rig.transitions())[0] == ("bot", "queued", "frustration")


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("you are not helping", "en"),
        ("यह बेकार है", "hi"),
        ("આ તો નકામું છે", "gu"),
        ("ఇది పనికిరాని సేవ", "te"),
        ("ეს უსარგებლოა", "ka"),
    ],
)
async def test_negative_feedback_is_recognised_in_five_languages(
    rig: DeskRig, text: str, language: str
) -> None:
    replies = await rig.push(text)
    assert replies == [rig.phrase("feedback_negative", language)]


async def test_an_angry_question_still_gets_its_answer(rig: DeskRig) -> None:
    replies = await rig.push("where is my order?? this is ridiculous")
    assert replies[0] == KB.entries["order_status"].answers["en"]
