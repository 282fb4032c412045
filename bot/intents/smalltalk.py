"""Greetings, goodbyes, thanks, yes and no: short, polite, in the customer's language."""

from __future__ import annotations

from bot.intents import survey
from bot.intents.context import TurnContext
from bot.messages import InboundMessage, OutboundMessage


async def greet(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    return [ctx.say("greet")]


async def goodbye(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    question = await survey.after_bot_answer(ctx)  # leaving right after an FAQ answer
    return [ctx.say("goodbye"), *([question] if question is not None else [])]


async def thanks(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    # Thanks right after an FAQ answer: the bot resolved it; ask its survey (if any).
    question = await survey.after_bot_answer(ctx)
    return [ctx.say("thanks"), *([question] if question is not None else [])]


async def affirm(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    return [ctx.say("affirm")]


async def deny(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    return [ctx.say("deny")]
