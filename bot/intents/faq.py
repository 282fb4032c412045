"""Answer from the knowledge base, in the customer's language when the entry has it."""

from __future__ import annotations

from bot.intents.context import TurnContext
from bot.messages import InboundMessage, OutboundMessage


async def handle(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    faq_id = ctx.nlu.faq_id if ctx.nlu else None
    entry = ctx.kb.get(faq_id) if faq_id else None
    if entry is None:
        # A stale button for an entry an admin has since removed.
        return [ctx.say("faq_unknown")]
    answer, _ = entry.answer_in(ctx.language, ctx.default_language)
    return [OutboundMessage(answer)]
