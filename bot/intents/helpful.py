"""``helpful``: the customer's answer to "was this helpful?" under an FAQ reply.

The buttons carry ``/helpful <message id> yes|no`` (:mod:`bot.commands`), where the id
is the customer message the FAQ answered. A vote counts once per answer (the id is
unique in ``faq_votes``) and only for a message of the same conversation that was
answered from the knowledge base; anything else is thanked and ignored, so an old or
forged button changes nothing.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.commands import HUMAN, MAX_ROW_ID, helpful_payload
from bot.intents.context import TurnContext
from bot.messages import Button, InboundMessage, OutboundMessage
from bot.nlu.client import FAQ_PREFIX
from bot.storage.models import FaqVote, Message


def vote_buttons(ctx: TurnContext) -> tuple[Button, ...]:
    """The two buttons under an FAQ answer, naming the question they are about."""
    question = ctx.message.id
    return (
        Button(ctx.phrase("helpful_yes"), helpful_payload(question, helpful=True)),
        Button(ctx.phrase("helpful_no"), helpful_payload(question, helpful=False)),
    )


async def handle(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    values = {
        str(e.get("entity")): str(e.get("value")) for e in (ctx.nlu.entities if ctx.nlu else ())
    }
    helpful = values.get("vote") == "yes"
    named = values.get("message_id", "")
    question_id = int(named) if named.isdigit() and len(named) <= 10 else None
    if question_id is not None and question_id <= MAX_ROW_ID:
        await _record(ctx, question_id, helpful=helpful)
    if helpful:
        return [ctx.say("helpful_thanks")]
    return [ctx.say("helpful_sorry", buttons=(Button(ctx.phrase("talk_to_person"), HUMAN),))]


async def _record(ctx: TurnContext, question_id: int, *, helpful: bool) -> None:
    session = ctx.session
    question = await session.get(Message, question_id)
    intent = question.intent if question is not None else None
    if (
        question is None
        or question.conversation_id != ctx.conversation.id
        or not intent
        or not intent.startswith(FAQ_PREFIX)
    ):
        return
    # The turn holds the conversation's lock, so this check and the insert cannot race
    # with another vote of the same conversation.
    voted = await session.scalar(
        select(FaqVote.id).where(FaqVote.question_message_id == question_id)
    )
    if voted is not None:
        return
    session.add(
        FaqVote(
            conversation_id=ctx.conversation.id,
            question_message_id=question_id,
            faq_id=intent[len(FAQ_PREFIX) :],
            helpful=helpful,
            language=question.language,
        )
    )
    await session.flush()
