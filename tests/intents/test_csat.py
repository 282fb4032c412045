"""``csat``: the 1-5 rating asked for after a resolved chat counts once."""

from __future__ import annotations

from sqlalchemy import select

from bot.commands import csat_payload
from bot.intents import csat
from bot.nlu.client import parse_command
from bot.storage.database import Database
from bot.storage.models import Feedback, utcnow
from tests.support.turns import inbound, load, phrase, stored, turn


async def asked(db: Database) -> None:
    """The desk resolved the chat and asked for a rating."""
    message_id = await stored(db, inbound("thanks, all good"))
    async with db.transaction() as session:
        _, conversation = await load(session, message_id)
        conversation.csat_requested_at = utcnow()


async def rate(db: Database, score: int) -> list[str]:
    payload = csat_payload(score)
    message = inbound(f"{score} ★", payload=payload)
    async with turn(db, message, nlu=parse_command(message.text, payload=payload)) as ctx:
        replies = await csat.handle(message, ctx)
        assert ctx.conversation.csat_requested_at is None
    return [r.text for r in replies]


async def ratings(db: Database) -> list[tuple[str, int | None]]:
    async with db.transaction() as session:
        rows = (await session.scalars(select(Feedback).order_by(Feedback.id))).all()
    return [(f.kind, f.score) for f in rows]


async def test_a_rating_that_was_asked_for_is_kept_once(db: Database) -> None:
    await asked(db)
    assert await rate(db, 4) == [phrase("csat_thanks")]
    assert await rate(db, 1) == [phrase("csat_thanks")]  # an old button pressed again
    assert await ratings(db) == [("csat", 4)]


async def test_a_rating_nobody_asked_for_is_thanked_not_kept(db: Database) -> None:
    assert await rate(db, 5) == [phrase("csat_thanks")]
    assert await ratings(db) == []


async def test_a_reading_without_a_score_keeps_nothing(db: Database) -> None:
    await asked(db)
    message = inbound("great")
    async with turn(db, message) as ctx:
        assert [r.text for r in await csat.handle(message, ctx)] == [phrase("csat_thanks")]
        assert ctx.conversation.csat_requested_at is not None  # still waiting for a rating
    assert await ratings(db) == []
