"""Greetings, goodbyes, thanks, yes and no: one polite phrase each, in the reply language."""

from __future__ import annotations

import pytest

from bot.intents import HANDLERS
from bot.storage.database import Database
from tests.support.turns import inbound, phrase, turn


@pytest.mark.parametrize("intent", ["greet", "goodbye", "thanks", "affirm", "deny"])
async def test_each_answers_with_its_own_phrase(db: Database, intent: str) -> None:
    message = inbound("hi")
    async with turn(db, message) as ctx:
        replies = await HANDLERS[intent](message, ctx)
    assert [r.text for r in replies] == [phrase(intent)]
    assert replies[0].buttons == ()


async def test_the_greeting_is_in_the_reply_language(db: Database) -> None:
    message = inbound("नमस्ते")
    async with turn(db, message, language="hi") as ctx:
        replies = await HANDLERS["greet"](message, ctx)
    assert [r.text for r in replies] == [phrase("greet", "hi")]
    assert phrase("greet", "hi") != phrase("greet")
