"""``/start <code>``, ``/link <code>``, ``link <code>``: join this account to the verified
customer who was given the code (:mod:`bot.customers.linking`), then greet them as that customer.

A ``/start`` whose parameter is not a code (a plain ``t.me`` link, a campaign's
parameter) is just a greeting. A code comes here even while a person has the chat
(:func:`bot.engine.gate.relayed`): then the answer is the link's alone, no greeting, and
the chat stays with the person. The stored message keeps the command, not the code.
"""

from __future__ import annotations

from bot.customers.linking import Linked, hide, looks_like_code, redeem
from bot.handoff import HUMAN_STATES
from bot.intents import smalltalk
from bot.intents.context import TurnContext
from bot.messages import InboundMessage, OutboundMessage
from bot.storage.models import utcnow


async def handle(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    code = _argument(ctx)
    if code is None or not looks_like_code(code):
        if message.text.lstrip().lower().startswith("/start"):
            return await smalltalk.greet(message, ctx)
        return [ctx.say("link_unknown")]
    ctx.message.text = hide(ctx.message.text, code)  # agents read the transcript
    result = await redeem(
        ctx.session,
        code=code,
        channel=ctx.conversation.channel,
        user_id=message.user_id,
        now=utcnow(),
    )
    if not isinstance(result, Linked):
        return [ctx.say(result.value)]
    # The conversation moved with the account (one UPDATE): the greeting reads it anew.
    ctx.conversation.customer_id = result.customer_id
    done = ctx.say("link_already" if result.already else "link_done")
    if ctx.conversation.state in HUMAN_STATES:
        return [done]  # a person is talking with them: no bot greeting, no questions
    return [done, *await smalltalk.greet(message, ctx)]


def _argument(ctx: TurnContext) -> str | None:
    for entity in ctx.nlu.entities if ctx.nlu and ctx.nlu.from_command else ():
        if entity.get("entity") == "argument":
            return str(entity.get("value", "")).strip() or None
    return None
