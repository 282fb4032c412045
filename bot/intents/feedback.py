"""``feedback``: keep what the customer said about us, and thank them."""

from __future__ import annotations

from bot.intents.context import TurnContext
from bot.messages import InboundMessage, OutboundMessage
from bot.storage.repositories import FeedbackRepository


async def handle(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    await FeedbackRepository(ctx.session).add(
        conversation_id=ctx.conversation.id,
        kind="comment",
        comment=message.text,
        message_id=ctx.message.id,
    )
    return [ctx.say("feedback_thanks")]
