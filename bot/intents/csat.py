"""``csat``: the customer's 1-5 rating after an agent resolved their chat (buttons ``/csat N``).

A rating counts once per resolved chat: the question is marked answered, so a second
press of an old button is thanked but not stored again.
"""

from __future__ import annotations

from bot.intents.context import TurnContext
from bot.messages import InboundMessage, OutboundMessage
from bot.storage.repositories import FeedbackRepository


async def handle(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    score = _score(ctx)
    if score is not None and ctx.conversation.csat_requested_at is not None:
        await FeedbackRepository(ctx.session).add(
            conversation_id=ctx.conversation.id,
            kind="csat",
            score=score,
            message_id=ctx.message.id,
        )
        ctx.conversation.csat_requested_at = None
    return [ctx.say("csat_thanks")]


def _score(ctx: TurnContext) -> int | None:
    for entity in ctx.nlu.entities if ctx.nlu else ():
        value = str(entity.get("value", ""))
        if entity.get("entity") == "score" and value.isdigit() and 1 <= int(value) <= 5:
            return int(value)
    return None
