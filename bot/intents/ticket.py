"""``create_ticket``: open a ticket from the conversation and give the customer its reference."""

from __future__ import annotations

from bot.intents.context import TurnContext
from bot.messages import InboundMessage, OutboundMessage
from bot.tickets import open_ticket_from_conversation


async def handle(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    ticket = await open_ticket_from_conversation(
        ctx.session, ctx.conversation, trigger=ctx.message, language=ctx.language
    )
    return [ctx.say("ticket_created", reference=ticket.reference)]
