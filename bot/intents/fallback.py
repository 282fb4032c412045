"""Not confident: offer the two best FAQ guesses once, then hand over to a person."""

from __future__ import annotations

from bot.commands import HUMAN, faq_payload
from bot.handoff import HandoffReason, queue_for_human
from bot.intents.context import TurnContext
from bot.messages import Button, InboundMessage, OutboundMessage


async def handle(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    ctx.conversation.low_confidence_streak += 1
    if ctx.conversation.low_confidence_streak >= ctx.low_confidence_turns:
        ctx.conversation.low_confidence_streak = 0
        await queue_for_human(ctx.session, ctx.conversation, reason=HandoffReason.LOW_CONFIDENCE)
        return [ctx.say("handoff_low_confidence")]
    guesses = [ctx.kb.get(i) for i in (ctx.nlu.faq_guesses(2) if ctx.nlu else [])]
    buttons = tuple(
        Button(entry.title_in(ctx.language, ctx.default_language), faq_payload(entry.id))
        for entry in guesses
        if entry is not None
    )
    buttons += (Button(ctx.phrase("talk_to_person"), HUMAN),)
    return [ctx.say("clarify", buttons=buttons)]
