"""The pipeline: one inbound message in, replies stored and sent out, in five small steps.

    gate       store the message once; a human-owned chat gets it relayed (bot.engine.gate)
    understand language, NLU or command, frustration signs, the decision (bot.engine.understand)
    decide     an open dialogue, a follow-up, frustration or an NLU outage (bot.engine.decide)
    dispatch   else one intent handler (bot.engine.dispatch)
    deliver    replies stored in the outbox, then sent (bot.engine.outbox)

Every inbound message is committed before anything else happens and every reply
is committed before it is sent, so a crash loses nothing and sends nothing twice
(``recover`` picks up what was stored but not finished). Messages of one
conversation are processed one at a time, in arrival order (``bot.engine.locks``); a
message is stored before it waits for the turns ahead of it, so the platform's
acknowledgement never waits for them. Conversations run concurrently.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels import ChannelRegistry, OnStored
from bot.engine.decide import Decider, Interceptor
from bot.engine.dispatch import dispatch, turn_context
from bot.engine.gate import Opened, open_turn, recheck, store_inbound
from bot.engine.locks import KeyedLocks
from bot.engine.outbox import Outbox
from bot.engine.turn import EngineOptions, Turn, Understanding
from bot.engine.understand import Reader
from bot.handoff import HUMAN_STATES, HandoffDesk, State
from bot.i18n import Catalogue
from bot.intents import DIALOGUES
from bot.knowledge.loader import KnowledgeBase, LiveKnowledgeBase
from bot.messages import InboundMessage, OutboundMessage
from bot.nlu.client import NluClient
from bot.storage.database import Database
from bot.storage.models import Conversation, Delivery, Message
from bot.storage.repositories import ConversationRepository, MessageRepository

log = logging.getLogger(__name__)

__all__ = ["Engine", "EngineOptions", "KeyedLocks", "Turn", "Understanding"]

DeskListener = Callable[[Conversation, Message], Awaitable[None]]


@dataclass(slots=True)
class _Answer:
    """What the answer's transaction committed."""

    conversation: Conversation
    message: Message
    replies: list[OutboundMessage] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    taken_over: bool = False
    state_changed: bool = False


class Engine:
    def __init__(
        self,
        *,
        db: Database,
        nlu: NluClient,
        kb: LiveKnowledgeBase,
        catalogue: Catalogue,
        channels: ChannelRegistry,
        options: EngineOptions,
    ) -> None:
        self.db = db
        self.nlu = nlu
        self.kb = kb
        self.catalogue = catalogue
        self.channels = channels
        self.options = options
        self.desk_listeners: list[DeskListener] = []
        self.interceptors: list[Interceptor] = []
        self.desk: HandoffDesk | None = None
        self._locks = KeyedLocks()  # turns (and the outbox's sends) of a conversation
        self._arrivals = KeyedLocks()  # its messages being stored
        self.outbox = Outbox(db=db, channels=channels, hold=self._locks.hold)

    async def store_outbound(
        self,
        session: AsyncSession,
        conversation: Conversation,
        replies: Sequence[OutboundMessage],
        *,
        language: str | None,
        agent_id: int | None = None,
    ) -> list[int]:
        """Put messages for the customer in the outbox, in the caller's transaction."""
        return await self.outbox.store_outbound(
            session, conversation, replies, language=language, agent_id=agent_id
        )

    async def deliver(self, row_ids: Sequence[int]) -> int:
        """Send outbox rows stored by :meth:`store_outbound` once their transaction committed.

        This is how an agent's message reaches the customer, on whatever channel the
        conversation is on; returns how many went out now (the rest stay for the retry).
        """
        return await self.outbox.deliver(row_ids)

    async def flush_outbox(
        self, *, channel: str | None = None, conversation_key: str | None = None
    ) -> int:
        """Send replies that are stored but not yet delivered; returns how many went out."""
        return await self.outbox.flush(channel=channel, conversation_key=conversation_key)

    def attach_desk(self, desk: HandoffDesk) -> None:
        """Let the agent desk admit queued chats and hear customer messages while it has them."""
        self.desk = desk

    async def receive(
        self, inbound: InboundMessage, *, on_stored: OnStored | None = None
    ) -> list[OutboundMessage]:
        """Handle one customer message end to end; returns the replies it sent (or queued).

        ``on_stored`` runs once the message is safely committed (or known to be a
        duplicate): the moment a channel may acknowledge it to the platform.
        """
        # The places in the conversation's lines are taken now, in arrival order, but the
        # message is stored before waiting for its turn: the platform's acknowledgement
        # does not wait for the turns ahead (Slack redelivers what is not acknowledged in
        # 3 s). Stores have a line of their own, so message ids follow arrival order too.
        key = (inbound.channel, inbound.conversation_key)
        storing = self._arrivals.place(key)
        place = self._locks.place(key)
        try:
            async with storing:
                message_id = await store_inbound(self.db, inbound)
            if on_stored is not None:
                try:
                    await on_stored()
                except Exception:  # the message is committed: a lost ack must not lose it
                    log.warning(
                        "could not acknowledge %s message %s; answering it anyway",
                        inbound.channel,
                        inbound.message_id,
                        exc_info=True,
                    )
            if message_id is None:
                log.info("duplicate %s message %s dropped", inbound.channel, inbound.message_id)
                return []
            async with place:
                turn = await self._process(inbound, message_id)
        finally:
            storing.release()
            place.release()
        # Outside the line: the desk may write to other conversations (queue positions).
        await self._after_turn(turn)
        return turn.replies

    async def _process(self, inbound: InboundMessage, message_id: int) -> Turn:
        """One turn, holding the conversation's place in line: the five steps in order."""
        kb = self.kb.current  # one knowledge base for the whole turn
        reader = Reader(self.nlu, kb, self.catalogue, self.options)
        opened = await open_turn(self.db, inbound, message_id, language=reader.language)
        if opened.handled:
            return Turn([], opened.conversation.id)
        if opened.human:
            await self._relay(opened.conversation, opened.message)
            return Turn([], opened.conversation.id, state_changed=opened.returned)
        understood = await reader.read(
            inbound, opened.previous_language, read=not opened.in_dialogue
        )
        answer = await self._answer(inbound, message_id, opened, understood, kb)
        if answer.taken_over:
            await self._relay(answer.conversation, answer.message)
            return Turn([], answer.conversation.id)
        for row_id, reply in zip(answer.rows, answer.replies, strict=True):
            await self.outbox.send(row_id, inbound.channel, inbound.conversation_key, reply)
        return Turn(answer.replies, answer.conversation.id, answer.state_changed)

    async def _answer(
        self,
        inbound: InboundMessage,
        message_id: int,
        opened: Opened,
        understood: Understanding,
        kb: KnowledgeBase,
    ) -> _Answer:
        """Decide, dispatch and store the replies in one transaction, the conversation locked."""
        async with self.db.transaction() as session:
            message, conversation = await recheck(session, message_id)
            answer = _Answer(conversation, message)
            if conversation.state in HUMAN_STATES:
                answer.taken_over = True  # an agent claimed the chat while the NLU read
            else:
                ctx = turn_context(
                    session,
                    conversation,
                    message,
                    understood,
                    kb=kb,
                    catalogue=self.catalogue,
                    options=self.options,
                )
                replies = await self._decider()(inbound, ctx, understood)
                if replies is None:
                    replies = await dispatch(inbound, ctx, understood.acted_intent)
                newly_queued = (
                    conversation.state == State.QUEUED and opened.state_before != State.QUEUED
                )
                if self.desk is not None and newly_queued:
                    replies = await self.desk.admit(
                        session, conversation, replies=replies, language=understood.reply_language
                    )
                answer.replies = replies
                answer.rows = await self.outbox.store_outbound(
                    session, conversation, replies, language=understood.reply_language
                )
                answer.state_changed = opened.returned or conversation.state != opened.state_before
            message.delivery = Delivery.PROCESSED
            understood.record(message, conversation)
        return answer

    def _decider(self) -> Decider:
        detects = self.desk.detects_frustration if self.desk else self.options.frustration
        return Decider(DIALOGUES, tuple(self.interceptors), detects_frustration=detects)

    async def _relay(self, conversation: Conversation, message: Message) -> None:
        listeners = list(self.desk_listeners)
        if self.desk is not None:
            listeners.append(self.desk.customer_message)
        for listener in listeners:
            try:
                await listener(conversation, message)
            except Exception:  # one broken listener must not cost the customer's message
                log.exception("desk listener failed")

    async def _after_turn(self, turn: Turn) -> None:
        if self.desk is not None and turn.conversation_id is not None:
            try:
                await self.desk.turn_finished(
                    turn.conversation_id, state_changed=turn.state_changed
                )
            except Exception:  # the customer's turn is done; the desk catches up later
                log.exception("desk update after a turn failed")

    async def _store_inbound(self, inbound: InboundMessage) -> int | None:
        return await store_inbound(self.db, inbound)

    async def recover(self) -> int:
        """Finish messages stored before a crash but never answered; then flush the outbox."""
        async with self.db.transaction() as session:
            rows = await MessageRepository(session).unprocessed_inbound()
            pending = []
            for row in rows:
                conversation = await ConversationRepository(session).get(row.conversation_id)
                if conversation is not None:
                    pending.append((row.id, _as_inbound(row, conversation)))
        for row_id, inbound in pending:
            async with self._locks.hold((inbound.channel, inbound.conversation_key)):
                turn = await self._process(inbound, row_id)
            await self._after_turn(turn)
        await self.flush_outbox()
        return len(pending)

    async def transcript(self, *, channel: str, conversation_key: str) -> list[Message]:
        async with self.db.transaction() as session:
            conversation = await ConversationRepository(session).find(
                channel=channel, conversation_key=conversation_key
            )
            if conversation is None:
                return []
            return list(await MessageRepository(session).transcript(conversation.id))


def _as_inbound(row: Message, conversation: Conversation) -> InboundMessage:
    return InboundMessage(
        channel=row.channel,
        conversation_key=conversation.conversation_key,
        user_id=str(conversation.customer_id),
        text=row.text,
        message_id=row.platform_message_id or f"recovered-{row.id}",
        payload=row.payload,
    )
