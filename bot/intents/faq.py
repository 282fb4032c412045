"""Answer from the knowledge base, in the customer's language when the entry has it.

With ``admin.helpful_buttons`` on, the answer carries "was this helpful?" buttons
(bot/intents/helpful.py): one vote per answer, stored per FAQ entry.
"""

from __future__ import annotations

from bot.intents.context import TurnContext
from bot.intents.helpful import vote_buttons
from bot.messages import InboundMessage, OutboundMessage


async def handle(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    faq_id = ctx.nlu.faq_id if ctx.nlu else None
    entry = ctx.kb.get(faq_id) if faq_id else None
    if entry is None:
        # A stale button for an entry an admin has since removed.
        return [ctx.say("faq_unknown")]
    answer, _ = entry.answer_in(ctx.language, ctx.default_language)
    buttons = vote_buttons(ctx) if ctx.ask_helpful else ()
    return [OutboundMessage(answer, buttons=buttons)]
