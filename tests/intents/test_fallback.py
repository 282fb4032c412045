"""Unsure: offer the best FAQ guesses once, then hand the chat to a person."""

from __future__ import annotations

from sqlalchemy import select

from bot.commands import HUMAN, parse
from bot.intents import fallback
from bot.nlu.client import IntentScore, ParseResult
from bot.storage.database import Database
from bot.storage.models import ConversationState, HandoffEvent
from tests.support.turns import KB, inbound, phrase, turn

UNSURE = ParseResult(
    text="",
    intent="out_of_scope",
    confidence=0.5,
    ranking=(
        IntentScore("out_of_scope", 0.5),
        IntentScore("faq/return_policy", 0.2),
        IntentScore("faq/no_longer_there", 0.15),
        IntentScore("faq/order_status", 0.1),
    ),
)


async def test_the_first_time_it_offers_known_guesses_and_a_person(db: Database) -> None:
    message = inbound("blorp zzz")
    async with turn(db, message, nlu=UNSURE) as ctx:
        [reply] = await fallback.handle(message, ctx)
        streak = ctx.conversation.low_confidence_streak
    assert reply.text == phrase("clarify")
    faqs = [parse(b.payload) for b in reply.buttons[:-1]]
    # The two best guesses the model ranked; an entry it knows but the KB lost is skipped.
    assert [c.faq_id for c in faqs if c] == ["return_policy"]
    entry = KB.get("return_policy")
    assert entry is not None
    assert reply.buttons[0].title == entry.title_in("en", "en")
    assert (reply.buttons[-1].title, reply.buttons[-1].payload) == (
        phrase("talk_to_person"),
        HUMAN,
    )
    assert streak == 1


async def test_unsure_again_hands_over_and_ends_the_streak(db: Database) -> None:
    message = inbound("qwerty")
    async with turn(db, message, nlu=UNSURE) as ctx:
        ctx.conversation.low_confidence_streak = 1
        replies = await fallback.handle(message, ctx)
        assert ctx.conversation.low_confidence_streak == 0
        assert ctx.conversation.state == ConversationState.QUEUED
    assert [r.text for r in replies] == [phrase("handoff_low_confidence")]
    async with db.transaction() as session:
        [event] = (await session.scalars(select(HandoffEvent))).all()
    assert event.reason == "low_confidence"


async def test_without_a_reading_it_still_offers_a_person(db: Database) -> None:
    message = inbound("")
    async with turn(db, message) as ctx:
        [reply] = await fallback.handle(message, ctx)
    assert [b.payload for b in reply.buttons] == [HUMAN]
