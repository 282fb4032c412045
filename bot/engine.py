"""The pipeline: one inbound message in, replies stored and sent out.

    dedupe -> store inbound -> handoff gate -> language -> NLU -> one handler
           -> store replies (outbox) -> send -> mark sent

Every inbound message is committed before anything else happens and every reply
is committed before it is sent, so a crash loses nothing and sends nothing twice
(``recover`` picks up what was stored but not finished). Messages of one
conversation are processed one at a time, in order; conversations run concurrently.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bot.channels import ChannelRegistry, ChannelSendError, RecipientOffline
from bot.handoff import HUMAN_STATES
from bot.i18n import Catalogue
from bot.intents import FALLBACK, TurnContext, handler_for
from bot.knowledge import LiveKnowledgeBase
from bot.language import detect_language
from bot.messages import Button, InboundMessage, OutboundMessage
from bot.nlu import OUT_OF_SCOPE, NluClient, NluError, ParseResult, parse_command
from bot.storage.database import Database
from bot.storage.models import Conversation, Delivery, Message
from bot.storage.repositories import ConversationRepository, MessageRepository

log = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 8

DeskListener = Callable[[Conversation, Message], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class EngineOptions:
    brand: str
    default_language: str
    languages: tuple[str, ...]
    answer_threshold: float
    low_confidence_turns: int


class KeyedLocks:
    """One asyncio lock per conversation, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: tuple[str, str]) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


def decide(
    result: ParseResult | None, *, threshold: float, known_faq: Callable[[str], bool]
) -> str | None:
    """The intent the bot acts on, or ``None`` when it is not confident enough to act."""
    if result is None or result.intent is None:
        return None
    if result.from_command:
        return result.intent
    if result.intent == OUT_OF_SCOPE or result.confidence < threshold:
        return None
    if result.faq_id is not None and not known_faq(result.faq_id):
        return None
    return result.intent


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
        self._locks = KeyedLocks()

    async def receive(
        self, inbound: InboundMessage, *, on_stored: Callable[[], Awaitable[None]] | None = None
    ) -> list[OutboundMessage]:
        """Handle one customer message end to end; returns the replies it sent (or queued).

        ``on_stored`` runs once the message is safely committed (or known to be a
        duplicate): the moment a channel may acknowledge it to the platform.
        """
        async with self._locks.hold((inbound.channel, inbound.conversation_key)):
            message_id = await self._store_inbound(inbound)
            if on_stored is not None:
                await on_stored()
            if message_id is None:
                log.info("duplicate %s message %s dropped", inbound.channel, inbound.message_id)
                return []
            return await self._process(inbound, message_id)

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
            return stored.id

    async def _process(self, inbound: InboundMessage, message_id: int) -> list[OutboundMessage]:
        async with self.db.transaction() as session:
            message = await MessageRepository(session).get(message_id)
            assert message is not None
            conversation = await ConversationRepository(session).get(message.conversation_id)
            assert conversation is not None
            if conversation.state in HUMAN_STATES:
                message.delivery = Delivery.PROCESSED
                message.sender = "customer"
                gated = True
            else:
                gated = False
            previous_language = conversation.language
        if gated:
            await self._relay_to_desk(conversation, message)
            return []

        guess = detect_language(
            inbound.text,
            previous=previous_language,
            hint=inbound.language_hint,
            supported=list(self.options.languages),
            default=self.options.default_language,
        )
        reply_language = (
            guess.language if self.catalogue.has(guess.language) else self.options.default_language
        )
        result, nlu_error = await self._understand(inbound)

        kb = self.kb.current
        async with self.db.transaction() as session:
            messages = MessageRepository(session)
            message = await messages.get(message_id)
            conversation = (
                await ConversationRepository(session).get(message.conversation_id)
                if message
                else None
            )
            assert message is not None and conversation is not None
            ctx = TurnContext(
                session=session,
                conversation=conversation,
                message=message,
                nlu=result,
                language=reply_language,
                kb=kb,
                catalogue=self.catalogue,
                brand=self.options.brand,
                default_language=self.options.default_language,
                low_confidence_turns=self.options.low_confidence_turns,
            )
            if nlu_error is not None:
                replies = [ctx.say("nlu_unavailable")]
            else:
                intent = decide(
                    result,
                    threshold=self.options.answer_threshold,
                    known_faq=lambda faq_id: kb.get(faq_id) is not None,
                )
                handler = handler_for(intent)
                if handler is not FALLBACK:
                    conversation.low_confidence_streak = 0
                replies = await handler(inbound, ctx)
            message.delivery = Delivery.PROCESSED
            message.language = guess.language
            message.intent = result.intent if result else None
            message.confidence = result.confidence if result else None
            message.nlu = {
                **(result.as_json() if result else {}),
                "language_source": guess.source,
                **({"error": nlu_error} if nlu_error else {}),
            }
            conversation.language = guess.language
            outbox = [
                await messages.add_outbound(
                    conversation=conversation,
                    text=reply.text,
                    buttons=[{"title": b.title, "payload": b.payload} for b in reply.buttons],
                    sender=reply.sender,
                    language=reply_language,
                )
                for reply in replies
            ]
            outbox_ids = [row.id for row in outbox]
        for row_id, reply in zip(outbox_ids, replies, strict=True):
            await self._deliver(row_id, inbound.channel, inbound.conversation_key, reply)
        return replies

    async def _understand(self, inbound: InboundMessage) -> tuple[ParseResult | None, str | None]:
        command = parse_command(inbound.payload or inbound.text)
        if command is not None:
            return command, None
        try:
            return await self.nlu.parse(inbound.text), None
        except NluError as exc:
            # The message is already stored; the customer gets an honest reply instead.
            log.error("NLU failed for %s/%s: %s", inbound.channel, inbound.conversation_key, exc)
            return None, str(exc)

    async def _relay_to_desk(self, conversation: Conversation, message: Message) -> None:
        for listener in self.desk_listeners:
            try:
                await listener(conversation, message)
            except Exception:  # one broken listener must not cost the customer's message
                log.exception("desk listener failed")

    async def _deliver(
        self, row_id: int, channel_name: str, conversation_key: str, reply: OutboundMessage
    ) -> bool:
        channel = self.channels.get(channel_name)
        if channel is None:
            log.warning(
                "no channel '%s' running; reply %d stays in the outbox", channel_name, row_id
            )
            return False
        try:
            platform_id = await channel.send(conversation_key, reply)
        except RecipientOffline:
            return False
        except ChannelSendError as exc:
            await self._record_failure(row_id, str(exc), permanent=exc.permanent)
            return False
        except Exception as exc:  # a platform outage: keep the reply for the retry loop
            log.warning("sending reply %d on %s failed: %s", row_id, channel_name, exc)
            await self._record_failure(row_id, f"{type(exc).__name__}: {exc}", permanent=False)
            return False
        async with self.db.transaction() as session:
            await MessageRepository(session).mark_sent(row_id, platform_message_id=platform_id)
        return True

    async def _record_failure(self, row_id: int, error: str, *, permanent: bool) -> None:
        async with self.db.transaction() as session:
            messages = MessageRepository(session)
            row = await messages.get(row_id)
            give_up = permanent or (row is not None and row.attempts + 1 >= MAX_SEND_ATTEMPTS)
            await messages.mark_attempt_failed(row_id, error=error, give_up=give_up)
        if give_up:
            log.error("reply %d given up after error: %s", row_id, error)

    async def flush_outbox(
        self, *, channel: str | None = None, conversation_key: str | None = None
    ) -> int:
        """Send replies that are stored but not yet delivered; returns how many went out."""
        async with self.db.transaction() as session:
            conversation_id = None
            if channel is not None and conversation_key is not None:
                conversation = await ConversationRepository(session).find(
                    channel=channel, conversation_key=conversation_key
                )
                if conversation is None:
                    return 0
                conversation_id = conversation.id
            rows = await MessageRepository(session).pending_outbound(
                channel=channel, conversation_id=conversation_id
            )
            work = []
            for row in rows:
                owner = await ConversationRepository(session).get(row.conversation_id)
                if owner is not None:
                    work.append((row.id, row.channel, owner.conversation_key, _as_outbound(row)))
        sent = 0
        for row_id, channel_name, key, reply in work:
            async with self._locks.hold((channel_name, key)):
                sent += await self._deliver(row_id, channel_name, key, reply)
        return sent

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
                await self._process(inbound, row_id)
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


def _as_outbound(row: Message) -> OutboundMessage:
    buttons = tuple(Button(b["title"], b["payload"]) for b in row.buttons or [])
    return OutboundMessage(row.text, buttons=buttons, sender=row.sender)


def _as_inbound(row: Message, conversation: Conversation) -> InboundMessage:
    return InboundMessage(
        channel=row.channel,
        conversation_key=conversation.conversation_key,
        user_id=str(conversation.customer_id),
        text=row.text,
        message_id=row.platform_message_id or f"recovered-{row.id}",
        payload=row.payload,
    )
