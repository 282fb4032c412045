"""Greetings, goodbyes, thanks, yes and no: short, polite, in the customer's language."""

from __future__ import annotations

from bot.intents.context import TurnContext
from bot.messages import InboundMessage, OutboundMessage


async def greet(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    return [ctx.say("greet")]


async def goodbye(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    return [ctx.say("goodbye")]


async def thanks(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    return [ctx.say("thanks")]


async def affirm(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    return [ctx.say("affirm")]


async def deny(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    return [ctx.say("deny")]
