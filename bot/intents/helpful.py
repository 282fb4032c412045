"""``helpful``: the customer's answer to "was this helpful?" under an FAQ reply.

The buttons carry ``/helpful <message id> yes|no``, where the id is the customer message
the FAQ answered. A vote counts once per answer (the id is unique in ``faq_votes``) and
only for a message of the same conversation that was answered from the knowledge base;
anything else is thanked and ignored, so an old or forged button changes nothing.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from bot.intents.context import TurnContext
from bot.messages import Button, InboundMessage, OutboundMessage
from bot.nlu.client import FAQ_PREFIX, IntentScore, ParseResult
from bot.storage.models import FaqVote, Message

INTENT = "helpful"
VOTE_PAYLOAD = re.compile(r"^/helpful (\d+) (yes|no)$")


def vote_buttons(ctx: TurnContext) -> tuple[Button, ...]:
    """The two buttons under an FAQ answer, naming the question they are about."""
    question = ctx.message.id
    return (
        Button(ctx.phrase("helpful_yes"), f"/helpful {question} yes"),
        Button(ctx.phrase("helpful_no"), f"/helpful {question} no"),
    )


def parse_vote(payload: str | None) -> ParseResult | None:
    """A pressed vote button as a certain NLU result (it skips the model); else None."""
    match = VOTE_PAYLOAD.match(payload or "")
    if match is None:
        return None
    return ParseResult(
        text=payload or "",
        intent=INTENT,
        confidence=1.0,
        ranking=(IntentScore(INTENT, 1.0),),
        entities=(
            {"entity": "message_id", "value": match.group(1)},
            {"entity": "vote", "value": match.group(2)},
        ),
        from_command=True,
    )


async def handle(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    values = {
        str(e.get("entity")): str(e.get("value")) for e in (ctx.nlu.entities if ctx.nlu else ())
    }
    helpful = values.get("vote") == "yes"
    question_id = int(values["message_id"]) if values.get("message_id", "").isdigit() else None
    if question_id is not None:
        await _record(ctx, question_id, helpful=helpful)
    if helpful:
        return [ctx.say("helpful_thanks")]
    return [ctx.say("helpful_sorry", buttons=(Button(ctx.phrase("talk_to_person"), "/human"),))]


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
