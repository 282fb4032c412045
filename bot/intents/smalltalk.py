"""Greetings, goodbyes, thanks, yes and no: short, polite, in the customer's language."""

from __future__ import annotations

from bot.intents import survey
from bot.intents.context import TurnContext
from bot.messages import Button, InboundMessage, OutboundMessage
from bot.storage.customers import CustomerRepository


async def greet(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    """By name a customer the shop vouched for (a verified identity), with their open
    ticket offered as the likely topic. A platform's display name or a name typed into a
    page is not greeted with: nobody checked it, and it may not be the person writing."""
    customers = CustomerRepository(ctx.session)
    customer = await customers.get(ctx.conversation.customer_id)
    if customer is None or not customer.verified or not customer.display_name:
        return [ctx.say("greet")]
    replies = [ctx.say("greet_known", name=customer.display_name)]
    ticket = await customers.open_ticket(customer.id)
    if ticket is not None and ticket.reference:
        yes = Button(
            ctx.phrase("ticket_open_yes", reference=ticket.reference), f"/status {ticket.reference}"
        )
        other = Button(ctx.phrase("ticket_open_no"), "/other")
        replies.append(
            ctx.say(
                "ticket_open_ask",
                reference=ticket.reference,
                subject=ticket.subject,
                buttons=(yes, other),
            )
        )
    return replies


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
