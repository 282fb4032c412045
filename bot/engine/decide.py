"""The decide step: who answers this turn, before the intent model's answer is taken.

In order, the first that takes the turn answers it:

1. a mail answering an agent's live chat reply we mailed to the customer: a person's to
   answer, never the bot's; it is queued, and the desk's admission gives it to that agent
   when they can take it (:meth:`bot.desk.reception.Reception.admit`);
2. a message with nothing to read (a photo, a sticker): one polite "I can only read
   text" (once per album);
3. an open dialogue (:func:`bot.intents.dialogue.continue_dialogue`);
4. follow-ups (:class:`bot.ports.FollowUps`), such as a ticket waiting on the
   customer's answer; each sees the turn through a :class:`bot.ports.TurnView` (skipped
   when the NLU failed: they need to know whether the bot understood);
5. repeated anger: the chat goes to a person;
6. a first angry message that asks nothing ("this is useless!!!", read as feedback,
   chit-chat or out of scope, or not understood): an apology and a person on offer,
   never "thank you for your feedback";
7. an NLU that could not answer: an honest "I cannot read messages right now".

When none takes it, :func:`bot.engine.dispatch.dispatch` runs the intent handler.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.commands import HUMAN
from bot.engine.frustration import Signs, is_frustrated
from bot.engine.turn import Understanding
from bot.handoff import HandoffReason, State, queue_for_human
from bot.intents import TurnContext
from bot.intents.dialogue import Step, continue_dialogue
from bot.messages import Button, InboundMessage, OutboundMessage
from bot.nlu.client import OUT_OF_SCOPE
from bot.ports import FollowUps, TurnView
from bot.storage.notices import NoticeStore
from bot.storage.repositories import FeedbackRepository, MessageRepository

# Frustration looks at the customer's latest messages (bot/engine/frustration.py).
FRUSTRATION_WINDOW = 3

NOT_A_REQUEST = frozenset(
    {None, "feedback", OUT_OF_SCOPE, "greet", "goodbye", "thanks", "affirm", "deny"}
)
"""Intents an angry message is a complaint about the bot under, not a request to serve
(an angry "where is my order??!" still gets its answer, "useless bot, get me a human"
a person)."""


@dataclass(frozen=True, slots=True)
class Decider:
    """The rules that may take a turn before its intent handler."""

    dialogues: Mapping[str, Step]
    follow_ups: Sequence[FollowUps] = ()
    detects_frustration: bool = True

    async def __call__(
        self,
        inbound: InboundMessage,
        ctx: TurnContext,
        understood: Understanding,
        *,
        no_dialogue: bool = False,
    ) -> list[OutboundMessage] | None:
        """The replies of whoever takes the turn, or ``None``: dispatch to the handler.

        ``no_dialogue``: the turn already looked, in line, and found no open dialogue.
        """
        replies = await self._answers_agent_mail(ctx)
        if replies is not None:
            return replies
        if understood.content_only:
            return await self._content_only(inbound, ctx)
        if not no_dialogue:
            replies = await continue_dialogue(inbound, ctx, self.dialogues)
            if replies is not None:
                return replies
        if understood.nlu_error is None and self.follow_ups:
            view = TurnView(
                session=ctx.session,
                conversation_id=ctx.conversation.id,
                message_id=ctx.message.id,
                message=inbound,
                language=ctx.language,
                intent=understood.acted_intent,
            )
            for service in self.follow_ups:
                replies = await service.follow_up(view)
                ctx.changed_tickets += view.changed_tickets
                view.changed_tickets.clear()
                if replies is not None:
                    return replies
        if understood.negative is not None and await self._frustrated(ctx, understood.negative):
            ctx.conversation.low_confidence_streak = 0
            await queue_for_human(ctx.session, ctx.conversation, reason=HandoffReason.FRUSTRATION)
            return [ctx.say("handoff_frustration")]
        if (
            self.detects_frustration
            and understood.negative is not None
            and understood.negative.negative
            and understood.nlu_error is None
            and understood.handler_intent in NOT_A_REQUEST
        ):
            return await self._complaint(inbound, ctx)
        if understood.nlu_error is not None:
            return [ctx.say("nlu_unavailable")]
        return None

    async def _answers_agent_mail(self, ctx: TurnContext) -> list[OutboundMessage] | None:
        """A customer's mail in the email thread of a live chat, when our newest mail there
        carried an agent's replies: it answers that person, so a person gets it. Read from
        the database (the notices the mail went out with), so any worker decides the same."""
        conversation = ctx.conversation
        if conversation.channel != "email" or conversation.state != State.BOT:
            return None
        answered = await NoticeStore(ctx.session).chat_reply_answered(conversation.id)
        if answered is None:
            return None
        await queue_for_human(
            ctx.session,
            conversation,
            reason=HandoffReason.REPLIED_TO_AGENT,
            # The chat the agent wrote in, for the agent who opens this one.
            detail=f"a reply to the mail of {answered.channel} chat /console/c/{answered.chat_id}",
        )
        return [ctx.say("handoff_requested")]

    async def _content_only(
        self, inbound: InboundMessage, ctx: TurnContext
    ) -> list[OutboundMessage]:
        if inbound.album and await MessageRepository(ctx.session).album_seen(
            ctx.conversation.id, inbound.album, before=ctx.message.id
        ):
            return []  # one polite reply per album, not one per photo
        # A photo of a broken parcel is often the whole question: a person can see it.
        return [
            ctx.say("unsupported_content", buttons=(Button(ctx.phrase("talk_to_person"), HUMAN),))
        ]

    async def _complaint(self, inbound: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
        """Negative feedback: kept for the team like any feedback, answered with an
        apology and a person's button; a second angry message hands over (above)."""
        await FeedbackRepository(ctx.session).add(
            conversation_id=ctx.conversation.id,
            kind="complaint",
            comment=inbound.text,
            message_id=ctx.message.id,
        )
        return [
            ctx.say("feedback_negative", buttons=(Button(ctx.phrase("talk_to_person"), HUMAN),))
        ]

    async def _frustrated(self, ctx: TurnContext, latest: Signs) -> bool:
        if not self.detects_frustration or not latest.negative:
            return False
        message = ctx.message
        earlier = await MessageRepository(ctx.session).recent_inbound(
            message.conversation_id, limit=FRUSTRATION_WINDOW, through=message.id
        )
        flags = [bool((m.nlu or {}).get("negative")) for m in earlier if m.id != message.id]
        return is_frustrated(latest, flags, window=FRUSTRATION_WINDOW)
