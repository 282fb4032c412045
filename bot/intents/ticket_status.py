"""``ticket_status`` / ``/status HD-1042``: status, last update and what happens next.

Only the customer's own tickets: someone else's reference gets exactly the answer a
made-up one gets, so nothing about another customer's ticket can be learned.
"""

from __future__ import annotations

from bot.intents.context import TurnContext
from bot.messages import InboundMessage, OutboundMessage
from bot.storage.models import aware
from bot.storage.repositories import TicketRepository
from bot.tickets.rules import find_reference


async def handle(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    tickets = TicketRepository(ctx.session)
    reference = find_reference(message.payload or message.text)
    customer_id = ctx.conversation.customer_id
    if reference is None:
        ticket = await tickets.latest_for_customer(customer_id=customer_id)
        if ticket is None:
            return [ctx.say("ticket_status_ask")]
    else:
        ticket = await tickets.find_for_customer(reference=reference, customer_id=customer_id)
        if ticket is None:
            # Same answer for someone else's ticket as for a made-up one: no leaks.
            return [ctx.say("ticket_not_found", reference=reference)]
    status = ctx.phrase(
        "ticket_status",
        reference=ticket.reference,
        status=ctx.phrase(f"status_{ticket.status.value}"),
        updated=aware(ticket.updated_at).strftime("%Y-%m-%d %H:%M UTC"),
    )
    return [OutboundMessage(f"{status} {ctx.phrase(f'ticket_next_{ticket.status.value}')}")]
