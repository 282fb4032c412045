"""The answer's transaction: decide and dispatch with the conversation locked, store the replies.

One transaction holds the whole answer, so what a handler or follow-up writes (a ticket,
a state change), the desk's admission of a newly queued chat, the replies in the outbox
and the record of what was understood commit together, or not at all. The conversation
is locked first (:func:`bot.engine.gate.recheck`): an agent who claimed the chat while
the NLU was reading wins, and the message goes to the desk instead of being answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.engine.decide import Decider
from bot.engine.dispatch import dispatch, turn_context
from bot.engine.gate import Opened, recheck, relayed
from bot.engine.outbox import Outbox
from bot.engine.turn import EngineOptions, Understanding
from bot.handoff import HandoffDesk, State
from bot.i18n import Catalogue
from bot.knowledge.loader import KnowledgeBase
from bot.messages import InboundMessage, OutboundMessage
from bot.storage.database import Database
from bot.storage.models import Conversation, Delivery, Message

MAX_NLU_ATTEMPTS = 50
"""A message the NLU is back for but still cannot read (say, a wrong token) stops
waiting after this many tries, marked failed with the NLU's error."""


@dataclass(slots=True)
class Answer:
    """What the answer's transaction committed."""

    conversation: Conversation
    message: Message
    replies: list[OutboundMessage] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    """The replies' outbox rows, in order: what the deliver step sends."""
    taken_over: bool = False
    """A person claimed the chat meanwhile: no replies, the desk gets the message."""
    state_changed: bool = False
    changed_tickets: tuple[int, ...] = ()
    """Tickets the turn's handler changed (:attr:`TurnContext.changed_tickets`)."""


@dataclass(frozen=True, slots=True)
class Answering:
    """Everything the answer step works with for one turn."""

    db: Database
    outbox: Outbox
    decider: Decider
    desk: HandoffDesk | None
    kb: KnowledgeBase
    catalogue: Catalogue
    options: EngineOptions

    async def answer(
        self, inbound: InboundMessage, opened: Opened, understood: Understanding
    ) -> Answer:
        """Decide, dispatch and store the replies to the message the gate opened."""
        async with self.db.transaction() as session:
            message, conversation = await recheck(session, opened.message.id)
            answer = Answer(conversation, message)
            if opened.waited and understood.nlu_error is not None:
                # Still no NLU: the customer knows the message is saved; it waits on.
                message.attempts += 1
                if message.attempts >= MAX_NLU_ATTEMPTS:
                    message.delivery = Delivery.FAILED
                    message.last_error = f"NLU: {understood.nlu_error}"[:500]
                return answer
            if relayed(conversation, inbound):
                answer.taken_over = True
            else:
                ctx = turn_context(
                    session,
                    conversation,
                    message,
                    understood,
                    kb=self.kb,
                    catalogue=self.catalogue,
                    options=self.options,
                )
                customer = conversation.customer_id
                replies = await self.decider(
                    inbound, ctx, understood, no_dialogue=opened.no_dialogue
                )
                if replies is None:
                    replies = await dispatch(inbound, ctx, understood.handler_intent)
                language = understood.reply_language
                queued = conversation.state == State.QUEUED
                if self.desk is not None and queued and opened.state_before != State.QUEUED:
                    # Queued in this turn: the desk says who takes it, or opens a ticket.
                    replies = await self.desk.admit(
                        session, conversation, replies=replies, language=language
                    )
                answer.replies = replies
                answer.rows = await self.outbox.store_outbound(
                    session, conversation, replies, language=language
                )
                # A link code moved the chat to another customer: the desks show it anew too.
                answer.state_changed = (
                    opened.returned
                    or conversation.state != opened.state_before
                    or conversation.customer_id != customer
                )
                answer.changed_tickets = tuple(ctx.changed_tickets)
            # An outage: "your message is saved" now, the real answer once the NLU is back.
            waits = understood.nlu_error is not None and conversation.state == State.BOT
            message.delivery = Delivery.WAITING_NLU if waits else Delivery.PROCESSED
            understood.record(message, conversation)
        return answer
