"""``faq/<id>``: the knowledge base's answer, in the customer's language when it has one."""

from __future__ import annotations

from bot.commands import parse_helpful
from bot.intents import faq
from bot.storage.database import Database
from tests.support.turns import KB, inbound, phrase, turn, understood


def answer(faq_id: str, language: str) -> str:
    entry = KB.get(faq_id)
    assert entry is not None
    return entry.answers[language]


async def test_the_answer_in_the_customers_language(db: Database) -> None:
    message = inbound("મારો ઓર્ડર ક્યાં છે?")
    async with turn(db, message, nlu=understood("faq/order_status"), language="gu") as ctx:
        replies = await faq.handle(message, ctx)
    assert [r.text for r in replies] == [answer("order_status", "gu")]


async def test_a_language_the_entry_lacks_gets_the_default_answer(db: Database) -> None:
    message = inbound("నా ఆర్డర్ ఎక్కడ ఉంది?")
    async with turn(db, message, nlu=understood("faq/order_status"), language="te") as ctx:
        replies = await faq.handle(message, ctx)
    assert [r.text for r in replies] == [answer("order_status", "en")]


async def test_an_entry_removed_since_the_button_was_sent(db: Database) -> None:
    message = inbound("Old topic", payload="/faq gone_entry")
    async with turn(db, message, nlu=understood("faq/gone_entry")) as ctx:
        replies = await faq.handle(message, ctx)
    assert [r.text for r in replies] == [phrase("faq_unknown")]


async def test_helpful_buttons_name_the_question_they_are_about(db: Database) -> None:
    message = inbound("where is my order")
    async with turn(db, message, nlu=understood("faq/order_status"), ask_helpful=True) as ctx:
        replies = await faq.handle(message, ctx)
        question = ctx.message.id
    [reply] = replies
    assert [b.title for b in reply.buttons] == [phrase("helpful_yes"), phrase("helpful_no")]
    votes = [parse_helpful(b.payload) for b in reply.buttons]
    assert [(v.question_id, v.helpful) for v in votes if v] == [(question, True), (question, False)]


async def test_no_buttons_unless_asked_for(db: Database) -> None:
    message = inbound("where is my order")
    async with turn(db, message, nlu=understood("faq/order_status")) as ctx:
        [reply] = await faq.handle(message, ctx)
    assert reply.buttons == ()
