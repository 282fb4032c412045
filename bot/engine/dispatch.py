"""The dispatch step: one intent handler answers the turn.

The handler is the one registered for the intent the bot acts on
(:func:`bot.intents.handler_for`); an unsure turn gets the fallback, which clarifies
and, the second time in a row, hands over. Any other answer ends the streak.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.engine.turn import EngineOptions, Understanding
from bot.i18n import Catalogue
from bot.intents import FALLBACK, TurnContext, handler_for
from bot.knowledge.loader import KnowledgeBase
from bot.messages import InboundMessage, OutboundMessage
from bot.storage.models import Conversation, Message


def turn_context(
    session: AsyncSession,
    conversation: Conversation,
    message: Message,
    understood: Understanding,
    *,
    kb: KnowledgeBase,
    catalogue: Catalogue,
    options: EngineOptions,
) -> TurnContext:
    """What the decide and dispatch steps work with, in the answer's transaction."""
    return TurnContext(
        session=session,
        conversation=conversation,
        message=message,
        nlu=understood.result,
        language=understood.reply_language,
        kb=kb,
        catalogue=catalogue,
        brand=options.brand,
        default_language=options.default_language,
        low_confidence_turns=options.low_confidence_turns,
        ask_helpful=options.ask_helpful,
        surveys=options.surveys,
    )


async def dispatch(
    inbound: InboundMessage, ctx: TurnContext, intent: str | None
) -> list[OutboundMessage]:
    """Run the handler of ``intent`` (``None``: the bot is unsure) and return its replies."""
    handler = handler_for(intent)
    if handler is not FALLBACK:
        ctx.conversation.low_confidence_streak = 0
    return await handler(inbound, ctx)
