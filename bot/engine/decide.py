"""The decide step: who answers this turn, before the intent model's answer is taken.

In order, the first that takes the turn answers it:

1. a message with nothing to read (a photo, a sticker): one polite "I can only read
   text" (once per album);
2. an open dialogue (:func:`bot.intents.dialogue.continue_dialogue`);
3. follow-ups, such as a ticket waiting on the customer's answer (skipped when the
   NLU failed: they need to know whether the bot understood);
4. repeated anger: the chat goes to a person;
5. an NLU that could not answer: an honest "I cannot read messages right now".

When none takes it, :func:`bot.engine.dispatch.dispatch` runs the intent handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from bot.engine.frustration import Signs, is_frustrated
from bot.engine.turn import Understanding
from bot.handoff import HandoffReason, queue_for_human
from bot.intents import TurnContext
from bot.intents.dialogue import Step, continue_dialogue
from bot.messages import InboundMessage, OutboundMessage
from bot.storage.repositories import MessageRepository

# Frustration looks at the customer's latest messages (bot/engine/frustration.py).
FRUSTRATION_WINDOW = 3

# Runs before the intent handler with the intent the bot would act on (None: unsure);
# returns replies to take the turn, or None to let it pass (tickets' follow-ups).
Interceptor = Callable[
    [InboundMessage, TurnContext, str | None], Awaitable[list[OutboundMessage] | None]
]


@dataclass(frozen=True, slots=True)
class Decider:
    """The rules that may take a turn before its intent handler."""

    dialogues: Mapping[str, Step]
    follow_ups: Sequence[Interceptor] = ()
    detects_frustration: bool = True

    async def __call__(
        self, inbound: InboundMessage, ctx: TurnContext, understood: Understanding
    ) -> list[OutboundMessage] | None:
        """The replies of whoever takes the turn, or ``None``: dispatch to the handler."""
        if understood.content_only:
            return await self._content_only(inbound, ctx)
        replies = await continue_dialogue(inbound, ctx, self.dialogues)
        if replies is not None:
            return replies
        if understood.nlu_error is None:
            for follow_up in self.follow_ups:
                replies = await follow_up(inbound, ctx, understood.acted_intent)
                if replies is not None:
                    return replies
        if understood.negative is not None and await self._frustrated(ctx, understood.negative):
            ctx.conversation.low_confidence_streak = 0
            await queue_for_human(ctx.session, ctx.conversation, reason=HandoffReason.FRUSTRATION)
            return [ctx.say("handoff_frustration")]
        if understood.nlu_error is not None:
            return [ctx.say("nlu_unavailable")]
        return None

    async def _content_only(
        self, inbound: InboundMessage, ctx: TurnContext
    ) -> list[OutboundMessage]:
        if inbound.album and await MessageRepository(ctx.session).album_seen(
            ctx.conversation.id, inbound.album, before=ctx.message.id
        ):
            return []  # one polite reply per album, not one per photo
        return [ctx.say("unsupported_content")]

    async def _frustrated(self, ctx: TurnContext, latest: Signs) -> bool:
        if not self.detects_frustration or not latest.negative:
            return False
        message = ctx.message
        earlier = await MessageRepository(ctx.session).recent_inbound(
            message.conversation_id, limit=FRUSTRATION_WINDOW, through=message.id
        )
        flags = [bool((m.nlu or {}).get("negative")) for m in earlier if m.id != message.id]
        return is_frustrated(latest, flags, window=FRUSTRATION_WINDOW)
