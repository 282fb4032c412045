"""The pipeline: one inbound message in, replies stored and sent out, in five small steps.

    gate       store the message once; a human-owned chat gets it relayed (bot.engine.gate)
    understand language, NLU or command, frustration signs, the decision (bot.engine.understand)
    decide     an open dialogue, a follow-up, frustration or an NLU outage (bot.engine.decide)
    dispatch   else one intent handler (bot.engine.dispatch)
    deliver    replies stored in the outbox, then sent (bot.engine.outbox)

Decide and dispatch run in one transaction with the conversation locked, which also
stores the replies (bot.engine.answer); the sends happen after it commits.

Every inbound message is committed before anything else happens and every reply
is committed before it is sent, so a crash loses nothing and sends nothing twice
(``recover`` picks up what was stored but not finished). Messages of one
conversation are processed one at a time, in arrival order (``bot.engine.locks``, and
with several workers a PostgreSQL lock per conversation, ``bot.cluster.locks``); a
message is stored before it waits for the turns ahead of it, so the platform's
acknowledgement never waits for them. Conversations run concurrently. A turn first
answers its conversation's earlier unanswered messages (another worker's, a dead
worker's), so order holds across workers too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels import ChannelRegistry, OnStored
from bot.cluster.locks import SharedLocks, SoloLocks
from bot.engine.answer import Answering
from bot.engine.decide import Decider
from bot.engine.failures import FailedTurns, fail_message, is_transient
from bot.engine.gate import (
    open_turn,
    store_inbound,
    unanswered,
    unanswered_before,
    waiting_for_nlu,
)
from bot.engine.locks import KeyedLocks
from bot.engine.outbox import Outbox
from bot.engine.turn import EngineOptions, Turn, Understanding
from bot.engine.understand import Reader
from bot.handoff import HandoffDesk
from bot.i18n import Catalogue
from bot.intents import DIALOGUES
from bot.knowledge.loader import LiveKnowledgeBase
from bot.messages import InboundMessage, OutboundMessage
from bot.nlu.client import NluClient
from bot.ports import FollowUps
from bot.storage.database import Database
from bot.storage.models import Conversation, Message
from bot.storage.repositories import ConversationRepository, MessageRepository

log = logging.getLogger(__name__)

__all__ = ["Engine", "EngineOptions", "KeyedLocks", "Turn", "Understanding"]


class Engine:
    """The bot's turn taker: what channels hand messages to (:meth:`receive`), and the
    customer line the desk and the ticket service write through (:meth:`store_outbound`,
    :meth:`deliver`). Its collaborators come in through :meth:`connect`."""

    def __init__(
        self,
        *,
        db: Database,
        nlu: NluClient,
        kb: LiveKnowledgeBase,
        catalogue: Catalogue,
        channels: ChannelRegistry,
        options: EngineOptions,
        failures: FailedTurns | None = None,
        shared: SharedLocks | None = None,
        on_offline: Callable[[str, str], None] | None = None,
    ) -> None:
        self.db = db
        self.nlu = nlu
        self.kb = kb
        self.catalogue = catalogue
        self.channels = channels
        self.options = options
        self.failures = failures
        """Where turns that crashed are counted (``/metrics``)."""
        self.desk: HandoffDesk | None = None
        self.follow_ups: tuple[FollowUps, ...] = ()
        self._locks = KeyedLocks()  # turns (and the outbox's sends) of a conversation
        self._arrivals = KeyedLocks()  # its messages being stored
        # Several workers: the same conversation's turn on another worker (bot.cluster).
        self._shared: SharedLocks = shared if shared is not None else SoloLocks()
        self._parses = asyncio.Semaphore(options.max_concurrent_parses)  # NLU calls in flight
        self.outbox = Outbox(db=db, channels=channels, hold=self._hold, on_offline=on_offline)

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

    def connect(
        self, *, desk: HandoffDesk | None = None, follow_ups: Sequence[FollowUps] = ()
    ) -> None:
        """Plug in the services that take part in customer turns (``bot.app`` calls it once).

        ``desk`` admits newly queued chats, hears customer messages while a person has
        the chat, and catches up after each turn; without one, queued chats just wait.
        ``follow_ups`` may answer a turn before its intent handler (a ticket waiting on
        the customer). They are built after the engine (it is their customer line), so
        they come in here rather than in the constructor; a later call replaces both.
        """
        self.desk = desk
        self.follow_ups = tuple(follow_ups)

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
            async with place, self._shared.hold(shared_name(key)):
                earlier = await self._answer_earlier(message_id)
                turn = await self._turn(inbound, message_id, recovering=False)
        finally:
            storing.release()
            place.release()
        # Outside the line: the desk may write to other conversations (queue positions).
        for done in [*earlier, turn]:
            await self._after_turn(done)
        return turn.replies

    async def _turn(self, inbound: InboundMessage, message_id: int, *, recovering: bool) -> Turn:
        """One turn that fails alone: a crash marks its message failed (bot.engine.failures).

        A database outage leaves the message for the next recovery; a live turn re-raises
        it (the channel's platform redelivers), recovery logs it and goes on.
        """
        try:
            return await self._process(inbound, message_id, live=not recovering)
        except Exception as exc:
            if not is_transient(exc):
                await fail_message(self.db, message_id, inbound.channel, exc, counter=self.failures)
            elif recovering:
                log.exception("recovering %s message %d failed", inbound.channel, message_id)
            else:
                raise
            return Turn([])

    async def _process(self, inbound: InboundMessage, message_id: int, *, live: bool) -> Turn:
        """One turn, holding the conversation's place in line: the five steps in order.

        ``live``: the message was stored moments ago (the customer is reachable), not met
        again by recovery."""
        kb = self.kb.current  # one knowledge base for the whole turn
        reader = Reader(self.nlu, kb, self.catalogue, self.options, self._parses)
        opened = await open_turn(self.db, inbound, message_id, language=reader.language)
        if opened.handled:
            return Turn([], opened.conversation.id)
        if opened.human:
            await self._relay(opened.conversation, opened.message)
            return Turn([], opened.conversation.id, state_changed=opened.returned)
        understood = await reader.read(
            inbound, opened.previous_language, read=not opened.in_dialogue
        )
        answering = Answering(
            self.db, self.outbox, self._decider(), self.desk, kb, self.catalogue, self.options
        )
        answer = await answering.answer(inbound, opened, understood)
        if answer.taken_over:  # an agent claimed the chat while the NLU read
            await self._relay(answer.conversation, answer.message)
            return Turn([], answer.conversation.id)
        # Deliver: the replies are committed; send them in order, still in line, and mark
        # them sent together. Rows this turn committed in line are not read back first.
        # Earlier replies still waiting (a worker died between storing and sending them,
        # or the platform was down) go first; while one of them cannot, these wait too.
        conversation_id = answer.conversation.id
        if answer.rows and not await self._send_waiting(inbound, conversation_id, answer.rows[0]):
            return Turn(
                answer.replies, answer.conversation.id, answer.state_changed, answer.changed_tickets
            )
        await self.outbox.send_all(
            list(zip(answer.rows, answer.replies, strict=True)),
            inbound.channel,
            inbound.conversation_key,
            fresh=live,
        )
        return Turn(
            answer.replies, answer.conversation.id, answer.state_changed, answer.changed_tickets
        )

    async def _send_waiting(
        self, inbound: InboundMessage, conversation_id: int, first: int
    ) -> bool:
        """Send the conversation's replies stored before ``first`` and still unsent;
        whether none is left waiting."""
        waiting = await self.outbox.pending_before(conversation_id, first)
        if not waiting:
            return True
        await self.outbox.send_all(waiting, inbound.channel, inbound.conversation_key)
        return not await self.outbox.pending_before(conversation_id, first)

    def _decider(self) -> Decider:
        detects = self.desk.detects_frustration if self.desk else self.options.frustration
        return Decider(DIALOGUES, self.follow_ups, detects_frustration=detects)

    async def _relay(self, conversation: Conversation, message: Message) -> None:
        if self.desk is None:
            return  # queued without a desk: the message waits, stored, for a person
        try:
            await self.desk.customer_message(conversation, message)
        except Exception:  # the message is stored; the desk shows it on its next read
            log.exception("relaying a customer message to the desk failed")

    async def _after_turn(self, turn: Turn) -> None:
        if self.desk is not None and turn.conversation_id is not None:
            try:
                await self.desk.turn_finished(
                    turn.conversation_id,
                    state_changed=turn.state_changed,
                    changed_tickets=turn.changed_tickets,
                )
            except Exception:  # the customer's turn is done; the desk catches up later
                log.exception("desk update after a turn failed")

    async def recover(self, *, older_than_s: float = 0.0) -> int:
        """Finish messages stored before a crash but never answered; then flush the outbox.
        ``older_than_s``: leave younger messages to the live workers that stored them."""
        recovered = await self.answer_orphans(older_than_s=older_than_s)
        await self.flush_outbox()
        await self.answer_waiting()
        return recovered

    async def answer_orphans(self, *, older_than_s: float) -> int:
        """Answer messages stored at least ``older_than_s`` ago and never answered.

        At start-up that is what a crash left; with several workers, every worker runs it
        every few seconds (bot/app.py), so the messages of a worker that died are answered
        by another within seconds. A conversation some worker is still working on (its
        lock is taken) is skipped: that worker answers what came before its own message,
        and a later sweep the rest. Returns how many messages were answered.
        """
        seen: set[int] = set()
        answered = 0
        while True:  # in batches, until a read finds nothing new
            pending = [
                (row_id, inbound)
                for row_id, inbound in await unanswered(self.db, older_than_s=older_than_s)
                if row_id not in seen
            ]
            if not pending:
                return answered
            conversations: dict[tuple[str, str], list[tuple[int, InboundMessage]]] = {}
            for row_id, inbound in pending:
                seen.add(row_id)
                key = (inbound.channel, inbound.conversation_key)
                conversations.setdefault(key, []).append((row_id, inbound))
            for key, rows in conversations.items():
                turns: list[Turn] = []
                async with self._locks.hold(key), self._shared.try_hold(shared_name(key)) as ours:
                    if not ours:
                        continue  # a live worker has the conversation
                    for row_id, inbound in rows:  # oldest first
                        turns.append(await self._turn(inbound, row_id, recovering=True))
                    answered += len(rows)
                for turn in turns:
                    await self._after_turn(turn)

    async def answer_waiting(self) -> int:
        """Answer the messages that met an NLU outage, once the NLU is back; returns how many.

        The supervisor runs it every few seconds (bot/app.py), on one worker of a cluster.
        Each message takes its conversation's place in line, and one already answered
        meanwhile (a newer message of its conversation answers the waiting ones first) is
        not answered again.
        """
        if not await self.nlu.ready():
            return 0
        answered = 0
        for row_id, inbound in await waiting_for_nlu(self.db):
            async with self._hold((inbound.channel, inbound.conversation_key)):
                turn = await self._turn(inbound, row_id, recovering=True)
            await self._after_turn(turn)
            answered += bool(turn.replies)
        return answered

    async def _answer_earlier(self, message_id: int) -> list[Turn]:
        """In line for a new message: first the conversation's earlier messages that are not
        answered yet, oldest first, so the customer's answers keep their order. Those are a
        dead worker's, one another worker stored a moment before (it finds this one answered
        when its turn comes), one whose turn met a database outage, and, if the NLU is back,
        those that met an NLU outage."""
        earlier = await unanswered_before(self.db, message_id)
        if any(item.waiting_nlu for item in earlier) and not await self.nlu.ready():
            earlier = [item for item in earlier if not item.waiting_nlu]
        return [await self._turn(i.inbound, i.row_id, recovering=True) for i in earlier]

    @asynccontextmanager
    async def _hold(self, key: tuple[str, str]) -> AsyncIterator[None]:
        """The conversation's line in this worker, then across workers: always in this
        order, so two workers never wait for each other crosswise."""
        async with self._locks.hold(key), self._shared.hold(shared_name(key)):
            yield

    async def transcript(self, *, channel: str, conversation_key: str) -> list[Message]:
        async with self.db.transaction() as session:
            conversation = await ConversationRepository(session).find(
                channel=channel, conversation_key=conversation_key
            )
            if conversation is None:
                return []
            return list(await MessageRepository(session).transcript(conversation.id))


def shared_name(key: tuple[str, str]) -> str:
    """The cluster lock's name for a conversation (``channel``, ``conversation_key``)."""
    channel, conversation_key = key
    return f"conversation:{channel}:{conversation_key}"
