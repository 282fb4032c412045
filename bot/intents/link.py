"""``/start <code>``, ``/link <code>``, ``link <code>``: join this account to the verified
customer who was given the code (:mod:`bot.customers.linking`), then greet them as that customer.

A ``/start`` whose parameter is not a code (a plain ``t.me`` link, a campaign's
parameter) is just a greeting.
"""

from __future__ import annotations

from bot.customers.linking import Linked, looks_like_code, redeem
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
    return [done, *await smalltalk.greet(message, ctx)]


def _argument(ctx: TurnContext) -> str | None:
    for entity in ctx.nlu.entities if ctx.nlu and ctx.nlu.from_command else ():
        if entity.get("entity") == "argument":
            return str(entity.get("value", "")).strip() or None
    return None
