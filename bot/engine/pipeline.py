"""The pipeline: one inbound message in, replies stored and sent out.

    dedupe -> store inbound -> handoff gate -> language -> NLU -> one handler
           -> store replies (outbox) -> send -> mark sent

Every inbound message is committed before anything else happens and every reply
is committed before it is sent, so a crash loses nothing and sends nothing twice
(``recover`` picks up what was stored but not finished). Messages of one
conversation are processed one at a time, in arrival order (``bot.engine.locks``); a message
is stored before it waits for the turns ahead of it, so the platform's acknowledgement
never waits for them. Conversations run concurrently.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels import (
    ChannelRegistry,
)
from bot.commands import is_command, parse_csat
from bot.engine.frustration import Signs, is_frustrated, signs
from bot.engine.locks import KeyedLocks
from bot.engine.outbox import Outbox
from bot.engine.turn import Turn, Understanding
from bot.handoff import HUMAN_STATES, HandoffDesk, HandoffReason, State, move, queue_for_human
from bot.i18n import Catalogue
from bot.intents import FALLBACK, TurnContext, handler_for
from bot.intents.dialogue import continue_dialogue, takes
from bot.knowledge.loader import LiveKnowledgeBase
from bot.messages import InboundMessage, OutboundMessage
from bot.nlu.client import (
    NluClient,
    NluError,
    ParseResult,
    parse_command,
)
from bot.nlu.decision import Thresholds, acted_intent, decide
from bot.nlu.language import LanguageGuess, detect_language
from bot.storage.database import Database
from bot.storage.dialogues import DialogueRepository
from bot.storage.models import Conversation, Delivery, Message
from bot.storage.repositories import ConversationRepository, MessageRepository

log = logging.getLogger(__name__)

# Frustration looks at the customer's latest messages (bot/engine/frustration.py).
FRUSTRATION_WINDOW = 3

__all__ = ["Engine", "EngineOptions", "KeyedLocks", "Turn", "Understanding"]

DeskListener = Callable[[Conversation, Message], Awaitable[None]]
# Runs before the intent handler with the intent the bot would act on (None: unsure);
# returns replies to take the turn, or None to let it pass (tickets' follow-ups).
Interceptor = Callable[
    [InboundMessage, TurnContext, str | None], Awaitable[list[OutboundMessage] | None]
]


@dataclass(frozen=True, slots=True)
class EngineOptions:
    brand: str
    default_language: str
    languages: tuple[str, ...]
    thresholds: Thresholds
    """When the bot answers on its own (bot/nlu/decision.py)."""
    low_confidence_turns: int
    frustration: bool = True
    """Hand over when the customer is repeatedly angry (bot/engine/frustration.py)."""
    # "was this helpful?" buttons under FAQ answers.
    ask_helpful: bool = False


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
        self, inbound: InboundMessage, *, on_stored: Callable[[], Awaitable[None]] | None = None
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
                message_id = await self._store_inbound(inbound)
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

    async def _after_turn(self, turn: Turn) -> None:
        if self.desk is not None and turn.conversation_id is not None:
            try:
                await self.desk.turn_finished(
                    turn.conversation_id, state_changed=turn.state_changed
                )
            except Exception:  # the customer's turn is done; the desk catches up later
                log.exception("desk update after a turn failed")

    async def _store_inbound(self, inbound: InboundMessage) -> int | None:
        async with self.db.transaction() as session:
            conversation = await ConversationRepository(session).get_or_create(
                channel=inbound.channel,
                conversation_key=inbound.conversation_key,
                user_id=inbound.user_id,
                user_name=inbound.user_name,
            )
            stored = await MessageRepository(session).add_inbound(
                conversation=conversation,
                text=inbound.text,
                payload=inbound.payload,
                platform_message_id=inbound.message_id,
            )
            if stored is None:
                return None
            await session.flush()
            for item in inbound.attachments:
                await MessageRepository(session).add_attachment(
                    message=stored,
                    kind=item.kind,
                    platform_file_id=item.file_id,
                    file_name=item.file_name,
                    mime_type=item.mime_type,
                    size_bytes=item.size,
                    details={**item.details, "album": inbound.album}
                    if inbound.album
                    else item.details,
                )
            # Someone who writes to us can be written to again (they unblocked the bot).
            await ConversationRepository(session).set_unreachable(conversation, reason=None)
            return stored.id

    async def _process(self, inbound: InboundMessage, message_id: int) -> Turn:
        csat = parse_csat(inbound.payload) is not None
        async with self.db.transaction() as session:
            message = await MessageRepository(session).get(message_id)
            assert message is not None
            conversation = await ConversationRepository(session).get(message.conversation_id)
            assert conversation is not None
            if message.delivery != Delivery.RECEIVED:
                # Already handled: recovery at start-up met it stored but unanswered.
                return Turn([], conversation.id)
            returned = conversation.state == State.RESOLVED and not csat
            if returned:
                # A resolved chat the customer writes to again is the bot's again.
                await move(
                    session,
                    conversation,
                    to=State.BOT,
                    reason=HandoffReason.CUSTOMER_RETURNED,
                    actor="customer",
                )
            gated = conversation.state in HUMAN_STATES
            if gated:
                message.delivery = Delivery.PROCESSED
                message.sender = "customer"
                # No NLU while a human has the chat, but the agent sees the language.
                guess = self._language(inbound, conversation.language)
                message.language = guess.language
                conversation.language = guess.language
            previous_language = conversation.language
            state_before = conversation.state
            # An open dialogue reads the next message itself: no NLU for it.
            in_dialogue = (
                not gated
                and takes(inbound)
                and await DialogueRepository(session).get(conversation.id) is not None
            )
        if gated:
            await self._relay_to_desk(conversation, message)
            return Turn([], conversation.id, state_changed=returned)

        understood = await self._understand_turn(inbound, previous_language, read=not in_dialogue)
        async with self.db.transaction() as session:
            message = await MessageRepository(session).get(message_id)
            # Locked until this turn commits: an agent claiming the chat meanwhile waits
            # for the turn, and a claim that got in while the NLU was parsing is seen here.
            conversation = (
                await ConversationRepository(session).get_for_update(message.conversation_id)
                if message
                else None
            )
            assert message is not None and conversation is not None
            taken_over = conversation.state in HUMAN_STATES
            replies: list[OutboundMessage] = []
            outbox_ids: list[int] = []
            if not taken_over:
                replies = await self._replies(session, inbound, message, conversation, understood)
                if (
                    self.desk is not None
                    and conversation.state == State.QUEUED
                    and state_before != State.QUEUED
                ):
                    replies = await self.desk.admit(
                        session, conversation, replies=replies, language=understood.reply_language
                    )
                outbox_ids = await self.store_outbound(
                    session, conversation, replies, language=understood.reply_language
                )
            message.delivery = Delivery.PROCESSED
            understood.record(message, conversation, decision=self._decision(understood))
            state_changed = returned or conversation.state != state_before
        if taken_over:
            await self._relay_to_desk(conversation, message)
            return Turn([], conversation.id)
        for row_id, reply in zip(outbox_ids, replies, strict=True):
            await self.outbox.send(row_id, inbound.channel, inbound.conversation_key, reply)
        return Turn(replies, conversation.id, state_changed)

    def _decision(self, understood: Understanding) -> str | None:
        """Why the bot did (not) act on what the NLU read; ``None`` when it read nothing."""
        if understood.result is None:
            return None
        kb = self.kb.current
        return decide(
            understood.result,
            thresholds=self.options.thresholds,
            known_faq=lambda faq_id: kb.get(faq_id) is not None,
        ).reason

    def _language(self, inbound: InboundMessage, previous: str | None) -> LanguageGuess:
        return detect_language(
            inbound.text,
            previous=previous,
            hint=inbound.language_hint,
            supported=list(self.options.languages),
            default=self.options.default_language,
        )

    async def _understand_turn(
        self, inbound: InboundMessage, previous_language: str | None, *, read: bool = True
    ) -> Understanding:
        """Language, NLU and frustration signs: everything read before the handler runs.

        ``read=False``: an open dialogue takes the message, so the NLU is not asked.
        """
        guess = self._language(inbound, previous_language)
        reply_language = (
            guess.language if self.catalogue.has(guess.language) else self.options.default_language
        )
        # A photo, sticker or location without a caption: nothing for the NLU to read.
        content_only = not inbound.text.strip()
        skip = content_only or not read
        result, nlu_error = (None, None) if skip else await self._understand(inbound)
        chose = is_command(inbound.text, inbound.payload)
        negative = None if content_only or chose else signs(inbound.text)
        return Understanding(guess, reply_language, result, nlu_error, negative, content_only)

    async def _replies(
        self,
        session: AsyncSession,
        inbound: InboundMessage,
        message: Message,
        conversation: Conversation,
        understood: Understanding,
    ) -> list[OutboundMessage]:
        """The bot's answer: one intent handler, or a handoff when the customer is frustrated."""
        kb = self.kb.current
        ctx = TurnContext(
            session=session,
            conversation=conversation,
            message=message,
            nlu=understood.result,
            language=understood.reply_language,
            kb=kb,
            catalogue=self.catalogue,
            brand=self.options.brand,
            default_language=self.options.default_language,
            low_confidence_turns=self.options.low_confidence_turns,
            ask_helpful=self.options.ask_helpful,
        )
        if understood.content_only:
            if inbound.album and await MessageRepository(session).album_seen(
                conversation.id, inbound.album, before=message.id
            ):
                return []  # one polite reply per album, not one per photo
            return [ctx.say("unsupported_content")]
        taken = await self._intercept(inbound, ctx, understood)
        if taken is not None:
            return taken
        negative = understood.negative
        if negative is not None and await self._frustrated(session, message, negative):
            conversation.low_confidence_streak = 0
            await queue_for_human(session, conversation, reason=HandoffReason.FRUSTRATION)
            return [ctx.say("handoff_frustration")]
        if understood.nlu_error is not None:
            return [ctx.say("nlu_unavailable")]
        intent = acted_intent(
            understood.result,
            thresholds=self.options.thresholds,
            known_faq=lambda faq_id: kb.get(faq_id) is not None,
        )
        handler = handler_for(intent)
        if handler is not FALLBACK:
            conversation.low_confidence_streak = 0
        return await handler(inbound, ctx)

    async def _intercept(
        self, inbound: InboundMessage, ctx: TurnContext, understood: Understanding
    ) -> list[OutboundMessage] | None:
        """An open dialogue, then the interceptors, may take the turn before the handler."""
        replies = await continue_dialogue(inbound, ctx)
        if replies is not None or understood.nlu_error is not None:
            return replies
        intent = acted_intent(
            understood.result,
            thresholds=self.options.thresholds,
            known_faq=lambda faq_id: ctx.kb.get(faq_id) is not None,
        )
        for interceptor in self.interceptors:
            replies = await interceptor(inbound, ctx, intent)
            if replies is not None:
                return replies
        return None

    async def _frustrated(self, session: AsyncSession, message: Message, latest: Signs) -> bool:
        enabled = self.desk.detects_frustration if self.desk else self.options.frustration
        if not enabled or not latest.negative:
            return False
        earlier = await MessageRepository(session).recent_inbound(
            message.conversation_id, limit=FRUSTRATION_WINDOW, through=message.id
        )
        flags = [bool((m.nlu or {}).get("negative")) for m in earlier if m.id != message.id]
        return is_frustrated(latest, flags, window=FRUSTRATION_WINDOW)

    async def _understand(self, inbound: InboundMessage) -> tuple[ParseResult | None, str | None]:
        command = parse_command(inbound.text, payload=inbound.payload)
        if command is not None:
            return command, None
        try:
            return await self.nlu.parse(inbound.text), None
        except NluError as exc:
            # The message is already stored; the customer gets an honest reply instead.
            log.error("NLU failed for %s/%s: %s", inbound.channel, inbound.conversation_key, exc)
            return None, str(exc)

    async def _relay_to_desk(self, conversation: Conversation, message: Message) -> None:
        listeners = list(self.desk_listeners)
        if self.desk is not None:
            listeners.append(self.desk.customer_message)
        for listener in listeners:
            try:
                await listener(conversation, message)
            except Exception:  # one broken listener must not cost the customer's message
                log.exception("desk listener failed")

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
