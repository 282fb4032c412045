"""``feedback``: what the customer said about us is kept, and they are thanked."""

from __future__ import annotations

from sqlalchemy import select

from bot.intents import feedback
from bot.storage.database import Database
from bot.storage.models import Feedback
from tests.support.turns import inbound, phrase, turn


async def test_the_comment_is_kept_with_its_message(db: Database) -> None:
    message = inbound("Your delivery was really fast, thanks!")
    async with turn(db, message) as ctx:
        replies = await feedback.handle(message, ctx)
        ids = (ctx.conversation.id, ctx.message.id)
    assert [r.text for r in replies] == [phrase("feedback_thanks")]
    async with db.transaction() as session:
        [row] = (await session.scalars(select(Feedback))).all()
    assert (row.kind, row.comment, row.score) == (
        "comment",
        "Your delivery was really fast, thanks!",
        None,
    )
    assert (row.conversation_id, row.message_id) == ids
