"""``helpful``: the vote under an FAQ answer counts once, and only for that answer."""

from __future__ import annotations

from sqlalchemy import select

from bot.commands import HUMAN, helpful_payload
from bot.intents import helpful
from bot.nlu.client import parse_command
from bot.storage.database import Database
from bot.storage.models import FaqVote
from tests.support.turns import inbound, load, phrase, stored, turn


async def answered_question(
    db: Database, *, user: str = "alice", intent: str = "faq/order_status"
) -> int:
    """A customer message the bot answered from the knowledge base; its id."""
    question_id = await stored(db, inbound("where is my order", user=user))
    async with db.transaction() as session:
        question, _ = await load(session, question_id)
        question.intent, question.language = intent, "en"
    return question_id


async def vote(db: Database, question_id: int, *, yes: bool, user: str = "alice") -> list[str]:
    payload = helpful_payload(question_id, helpful=yes)
    message = inbound("👍" if yes else "👎", payload=payload, user=user)
    async with turn(db, message, nlu=parse_command(message.text, payload=payload)) as ctx:
        replies = await helpful.handle(message, ctx)
    return [r.text for r in replies]


async def votes(db: Database) -> list[tuple[int, str, bool, str | None]]:
    async with db.transaction() as session:
        rows = (await session.scalars(select(FaqVote).order_by(FaqVote.id))).all()
    return [(v.question_message_id, v.faq_id, v.helpful, v.language) for v in rows]


async def test_a_yes_is_kept_for_the_faq_it_answered(db: Database) -> None:
    question = await answered_question(db)
    assert await vote(db, question, yes=True) == [phrase("helpful_thanks")]
    assert await votes(db) == [(question, "order_status", True, "en")]


async def test_a_no_offers_a_person_and_is_kept(db: Database) -> None:
    question = await answered_question(db)
    payload = helpful_payload(question, helpful=False)
    message = inbound("👎", payload=payload)
    async with turn(db, message, nlu=parse_command(message.text, payload=payload)) as ctx:
        [reply] = await helpful.handle(message, ctx)
    assert reply.text == phrase("helpful_sorry")
    assert [b.payload for b in reply.buttons] == [HUMAN]
    assert await votes(db) == [(question, "order_status", False, "en")]


async def test_an_answer_counts_one_vote(db: Database) -> None:
    question = await answered_question(db)
    await vote(db, question, yes=True)
    assert await vote(db, question, yes=False) == [phrase("helpful_sorry")]
    assert await votes(db) == [(question, "order_status", True, "en")]


async def test_old_or_forged_buttons_change_nothing(db: Database) -> None:
    someone_elses = await answered_question(db, user="bob")
    not_an_faq = await answered_question(db, intent="greet")
    assert await vote(db, someone_elses, yes=True) == [phrase("helpful_thanks")]
    assert await vote(db, not_an_faq, yes=True) == [phrase("helpful_thanks")]
    assert await vote(db, 999_999, yes=True) == [phrase("helpful_thanks")]
    assert await votes(db) == []
