"""``survey``: a pressed survey or follow-up button (``/survey <request> <answer>``), and
``stop_surveys`` (``/stop``, "don't ask me again").

A score counts once (:mod:`bot.surveys.answers`); a low one is asked "What could we do
better?" and the customer's next words are kept as its comment (the ``survey_comment``
dialogue; ``cancel`` skips it). A follow-up's "yes" closes the ticket; "no" reopens it
and the next words land on it (the ``ticket_reopened`` dialogue).
"""

from __future__ import annotations

from bot.intents.context import TurnContext
from bot.intents.dialogue import cancel_button
from bot.messages import InboundMessage, OutboundMessage
from bot.nlu.client import FAQ_PREFIX
from bot.nlu.decision import was_acted_on
from bot.storage.dialogues import DialogueRepository
from bot.storage.models import Dialogue, utcnow
from bot.storage.repositories import MessageRepository
from bot.surveys.answers import (
    add_comment,
    add_customer_words,
    close_after_follow_up,
    opt_out,
    record_answer,
    reopen_after_follow_up,
)
from bot.surveys.asking import Phrases, ask_survey
from bot.surveys.plan import Occasion, SurveyPlan

COMMENT_DIALOGUE = "survey_comment"
REOPEN_DIALOGUE = "ticket_reopened"


async def handle(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    values = {
        str(e.get("entity")): str(e.get("value")) for e in (ctx.nlu.entities if ctx.nlu else ())
    }
    named = values.get("request_id", "")
    if not named.isdigit():
        return [ctx.say("survey_thanks")]
    now = utcnow()
    recorded = await record_answer(
        ctx.session,
        customer_id=ctx.conversation.customer_id,
        request_id=int(named),
        value=values.get("value", ""),
        message_id=ctx.message.id,
        now=now,
    )
    request = recorded.request
    if request is None or not recorded.counted:
        return [ctx.say("survey_thanks")]
    if recorded.is_follow_up:
        return await _follow_up(ctx, request.ticket_id, recorded.value == "yes")
    if request.kind == "csat":
        ctx.conversation.csat_requested_at = None  # answered: an old /csat button is moot
    plan = ctx.surveys or SurveyPlan.default()
    if plan.wants_comment(request.kind, int(recorded.value)):
        await DialogueRepository(ctx.session).open(
            ctx.conversation.id,
            name=COMMENT_DIALOGUE,
            step="comment",
            data={"request_id": request.id},
        )
        return [ctx.say("survey_comment_request", buttons=(cancel_button(ctx),))]
    return [ctx.say("survey_thanks")]


async def _follow_up(
    ctx: TurnContext, ticket_id: int | None, stayed_solved: bool
) -> list[OutboundMessage]:
    now = utcnow()
    if ticket_id is None:
        return [ctx.say("survey_thanks")]
    if stayed_solved:
        ticket = await close_after_follow_up(ctx.session, ticket_id, now)
        replies = [ctx.say("followup_glad")]
        if ticket is not None:
            ctx.changed_tickets.append(ticket.id)
            plan = ctx.surveys or SurveyPlan.default()
            question = await ask_survey(
                ctx.session,
                plan,
                Phrases(ctx.catalogue, ctx.brand),
                conversation=ctx.conversation,
                occasion=Occasion.TICKET_CLOSED,
                key=f"ticket:{ticket.id}",
                now=now,
                ticket_id=ticket.id,
                agent_id=ticket.assignee_id,
            )
            replies += [question] if question is not None else []
        return replies
    ticket = await reopen_after_follow_up(ctx.session, ticket_id, now)
    if ticket is None:
        return [ctx.say("survey_thanks")]
    ctx.changed_tickets.append(ticket.id)  # back in the consoles' open tickets, live
    await DialogueRepository(ctx.session).open(
        ctx.conversation.id, name=REOPEN_DIALOGUE, step="words", data={"ticket_id": ticket.id}
    )
    return [ctx.say("followup_sorry", reference=ticket.reference, buttons=(cancel_button(ctx),))]


async def stop(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    """``/stop`` or "don't ask me again": no more surveys or follow-ups for this customer."""
    await opt_out(ctx.session, ctx.conversation.customer_id, utcnow())
    return [ctx.say("surveys_stopped")]


async def continue_comment(
    message: InboundMessage, ctx: TurnContext, dialogue: Dialogue
) -> list[OutboundMessage]:
    request_id = int((dialogue.data or {}).get("request_id", 0))
    await add_comment(ctx.session, request_id=request_id, text=message.text)
    await DialogueRepository(ctx.session).close(ctx.conversation.id)
    return [ctx.say("survey_comment_thanks")]


async def continue_reopened(
    message: InboundMessage, ctx: TurnContext, dialogue: Dialogue
) -> list[OutboundMessage]:
    ticket_id = int((dialogue.data or {}).get("ticket_id", 0))
    ticket = await add_customer_words(ctx.session, ticket_id, message.text.strip(), utcnow())
    await DialogueRepository(ctx.session).close(ctx.conversation.id)
    if ticket is not None:
        ctx.changed_tickets.append(ticket.id)
    reference = ticket.reference if ticket is not None else ""
    return [ctx.say("ticket_reply_added", reference=reference)]


async def after_bot_answer(ctx: TurnContext) -> OutboundMessage | None:
    """The customer thanked the bot: ask the bot-resolved survey about its last FAQ
    answer (the occasion is that question, so "thanks" twice, or the survey job's "left"
    later, never asks again)."""
    if ctx.surveys is None:
        return None
    earlier = await MessageRepository(ctx.session).recent_inbound(
        ctx.conversation.id, limit=2, through=ctx.message.id
    )
    previous = [m for m in earlier if m.id != ctx.message.id][:1]
    answered = previous[0] if previous else None
    if answered is None or not (answered.intent or "").startswith(FAQ_PREFIX):
        return None
    # The recorded decision says whether the bot answered it (not a clarification).
    if not was_acted_on(
        intent=answered.intent,
        confidence=answered.confidence,
        nlu=answered.nlu,
        answer_threshold=1.0,
    ):
        return None
    return await ask_survey(
        ctx.session,
        ctx.surveys,
        Phrases(ctx.catalogue, ctx.brand),
        conversation=ctx.conversation,
        occasion=Occasion.BOT_RESOLVED,
        key=f"answer:{answered.id}",
        now=utcnow(),
        intent=answered.intent,
    )
