"""The customer asked for a person: queue the conversation for the agent desk."""

from __future__ import annotations

from bot.handoff import HandoffReason, queue_for_human
from bot.intents.context import TurnContext
from bot.messages import InboundMessage, OutboundMessage


async def handle(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    await queue_for_human(ctx.session, ctx.conversation, reason=HandoffReason.CUSTOMER_ASKED)
    return [ctx.say("handoff_requested")]
