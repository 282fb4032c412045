"""``create_ticket`` / ``/ticket``: a short dialogue that opens a ticket.

summary -> details -> contact (only where the channel does not identify the customer,
the anonymous web chat) -> the ticket, confirmed with its reference and what happens
next. Every step re-asks, saying why, when the answer will not do; ``cancel`` ends it
with nothing saved. ``/ticket <summary>`` skips the first question.
"""

from __future__ import annotations

import re

from bot.intents.context import TurnContext
from bot.intents.dialogue import cancel_button
from bot.messages import InboundMessage, OutboundMessage
from bot.storage.dialogues import DialogueRepository
from bot.storage.models import Dialogue
from bot.storage.repositories import TicketRepository
from bot.tickets.rules import infer_priority, was_frustrated

DIALOGUE = "create_ticket"
SUMMARY = (5, 200)
DETAILS = (10, 4000)
# Channels whose user ids do not reach a person once the chat is closed.
ANONYMOUS_CHANNELS = frozenset({"webchat"})
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)
PHONE = re.compile(r"^\+?[\d\s().-]{7,20}$")


async def handle(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    summary = _argument(ctx)
    data: dict[str, str] = {}
    if summary and SUMMARY[0] <= len(summary) <= SUMMARY[1]:
        data["summary"] = summary
        step, key = "details", "ticket_ask_details"
    else:
        step, key = "summary", "ticket_ask_summary"
    await DialogueRepository(ctx.session).open(
        ctx.conversation.id, name=DIALOGUE, step=step, data=data
    )
    return [ctx.say(key, buttons=(cancel_button(ctx),))]


async def continue_dialogue(
    message: InboundMessage, ctx: TurnContext, dialogue: Dialogue
) -> list[OutboundMessage]:
    text = message.text.strip()
    data = dict(dialogue.data or {})
    if dialogue.step == "summary":
        problem = _length_problem(ctx, text, SUMMARY, "ticket_summary")
        if problem:
            return [problem]
        data["summary"] = text
        return _advance(ctx, dialogue, data, "details", "ticket_ask_details")
    if dialogue.step == "details":
        problem = _length_problem(ctx, text, DETAILS, "ticket_details")
        if problem:
            return [problem]
        data["details"] = text
        if ctx.conversation.channel in ANONYMOUS_CHANNELS:
            return _advance(ctx, dialogue, data, "contact", "ticket_ask_contact")
    elif dialogue.step == "contact":
        if not (EMAIL.match(text) or PHONE.match(text)):
            return [ctx.say("ticket_contact_invalid", buttons=(cancel_button(ctx),))]
        data["contact"] = text
    return await _open_ticket(ctx, data)


def _advance(
    ctx: TurnContext, dialogue: Dialogue, data: dict[str, str], step: str, key: str
) -> list[OutboundMessage]:
    dialogue.step = step
    dialogue.data = data  # a new dict: SQLAlchemy sees the JSON change
    return [ctx.say(key, buttons=(cancel_button(ctx),))]


def _length_problem(
    ctx: TurnContext, text: str, bounds: tuple[int, int], prefix: str
) -> OutboundMessage | None:
    low, high = bounds
    if len(text) < low:
        return ctx.say(f"{prefix}_too_short", min=low, buttons=(cancel_button(ctx),))
    if len(text) > high:
        return ctx.say(f"{prefix}_too_long", max=high, buttons=(cancel_button(ctx),))
    return None


async def _open_ticket(ctx: TurnContext, data: dict[str, str]) -> list[OutboundMessage]:
    summary, details = data.get("summary", ""), data.get("details", "")
    frustrated = await was_frustrated(
        ctx.session, conversation_id=ctx.conversation.id, through=ctx.message.id
    )
    priority = infer_priority(f"{summary}\n{details}", frustrated=frustrated)
    ticket = await TicketRepository(ctx.session).create(
        customer_id=ctx.conversation.customer_id,
        conversation_id=ctx.conversation.id,
        subject=summary,
        description=details,
        language=ctx.language,
        actor="customer",
        priority=priority,
    )
    ticket.contact = data.get("contact")
    await DialogueRepository(ctx.session).close(ctx.conversation.id)
    return [
        ctx.say(
            "ticket_confirmed",
            reference=ticket.reference,
            priority=ctx.phrase(f"priority_{priority}"),
        )
    ]


def _argument(ctx: TurnContext) -> str | None:
    for entity in ctx.nlu.entities if ctx.nlu and ctx.nlu.from_command else ():
        if entity.get("entity") == "argument":
            return str(entity.get("value", "")).strip() or None
    return None
