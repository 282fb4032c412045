"""``human_handoff``: the customer asked for a person, so the chat joins the queue."""

from __future__ import annotations

from sqlalchemy import select

from bot.intents import handoff
from bot.storage.database import Database
from bot.storage.models import ConversationState, HandoffEvent
from tests.support.turns import inbound, phrase, turn


async def test_the_chat_is_queued_for_a_person(db: Database) -> None:
    message = inbound("/human")
    async with turn(db, message) as ctx:
        replies = await handoff.handle(message, ctx)
        assert ctx.conversation.state == ConversationState.QUEUED
        assert ctx.conversation.queued_at is not None
    assert [r.text for r in replies] == [phrase("handoff_requested")]
    async with db.transaction() as session:
        [event] = (await session.scalars(select(HandoffEvent))).all()
    assert (event.from_state, event.to_state, event.reason, event.actor) == (
        ConversationState.BOT,
        ConversationState.QUEUED,
        "customer_asked",
        "bot",
    )
