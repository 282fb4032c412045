"""The gate: a customer message is stored once, and a turn opens only when the bot may answer.

- :func:`store_inbound` commits the message before anything else (the moment the
  platform may be acknowledged) and drops a redelivery of one already stored;
- :func:`open_turn` reads where the conversation stands: a message already handled
  ends the turn (recovery met it); a resolved chat the customer writes to again is the
  bot's again; while a person has the chat the message is kept for them and the bot
  stays silent, but for a link code, which the bot redeems (:func:`relayed`);
- :func:`recheck` locks the conversation for the answer's transaction, after the
  NLU: an agent who claimed the chat while the NLU was reading wins;
- :func:`unanswered` finds what was stored but never answered (a crash), for recovery;
  :func:`waiting_for_nlu` what met an NLU outage, to answer once the NLU is back;
  :func:`unanswered_before` what of one conversation must be answered before a message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.commands import answers_resolved_chat, link_code
from bot.handoff import HUMAN_STATES, HandoffReason, State, move
from bot.intents.dialogue import takes
from bot.messages import InboundMessage
from bot.nlu.language import LanguageGuess
from bot.storage.database import Database
from bot.storage.dialogues import DialogueRepository
from bot.storage.models import Conversation, Delivery, Message, utcnow
from bot.storage.repositories import ConversationRepository, MessageRepository

DetectLanguage = Callable[[InboundMessage, str | None], LanguageGuess]


@dataclass(frozen=True, slots=True)
class Opened:
    """Where the conversation stood when its turn opened (the gate's transaction)."""

    conversation: Conversation
    message: Message
    state_before: State
    previous_language: str | None
    handled: bool = False
    """Answered already: nothing more to do."""
    human: bool = False
    """A person has the chat: the message goes to the desk and the bot stays silent."""
    returned: bool = False
    """The chat was resolved and is the bot's again."""
    in_dialogue: bool = False
    """An open dialogue reads the message itself: no NLU for it."""
    no_dialogue: bool = False
    """Looked for one and none was open: the answer need not look again (only turns,
    which wait in the conversation's line, open dialogues)."""
    waited: bool = False
    """The message met an NLU outage before (the customer was told it is saved)."""


async def store_inbound(db: Database, inbound: InboundMessage) -> int | None:
    """Commit the customer's message; ``None`` when it is a redelivery of a stored one."""
    async with db.transaction() as session:
        conversations = ConversationRepository(session)
        messages = MessageRepository(session)
        conversation = await conversations.get_or_create(
            channel=inbound.channel,
            conversation_key=inbound.conversation_key,
            user_id=inbound.user_id,
            user_name=inbound.user_name,
        )
        stored = await messages.add_inbound(
            conversation=conversation,
            text=inbound.text,
            payload=inbound.payload,
            platform_message_id=inbound.message_id,
            subject=inbound.subject,
        )
        if stored is None:
            return None
        await session.flush()
        for item in inbound.attachments:
            await messages.add_attachment(
                message=stored,
                kind=item.kind,
                platform_file_id=item.file_id,
                file_name=item.file_name,
                mime_type=item.mime_type,
                size_bytes=item.size,
                details={**item.details, "album": inbound.album} if inbound.album else item.details,
            )
        # Someone who writes to us can be written to again (they unblocked the bot).
        await conversations.set_unreachable(conversation, reason=None)
        return stored.id


async def open_turn(
    db: Database, inbound: InboundMessage, message_id: int, *, language: DetectLanguage
) -> Opened:
    """Read the stored message and its conversation, and let the turn through or not.

    ``language`` detects the message's language, which the agent sees on a message
    the bot does not read.
    """
    async with db.transaction() as session:
        found = await MessageRepository(session).with_conversation(message_id)
        assert found is not None
        message, conversation = found
        waited = message.delivery == Delivery.WAITING_NLU
        if message.delivery not in (Delivery.RECEIVED, Delivery.WAITING_NLU):
            # Already handled: recovery at start-up met it stored but unanswered.
            return Opened(conversation, message, conversation.state, None, handled=True)
        if waited and conversation.state != State.BOT:
            # A person has the chat now (or it was resolved): they read it in the transcript.
            message.delivery = Delivery.PROCESSED
            return Opened(conversation, message, conversation.state, None, handled=True)
        # A rating or survey answer answers the resolved chat; anything else starts a new
        # one with the bot.
        returned = conversation.state == State.RESOLVED and not answers_resolved_chat(
            inbound.payload
        )
        if returned:
            await move(
                session,
                conversation,
                to=State.BOT,
                reason=HandoffReason.CUSTOMER_RETURNED,
                actor="customer",
            )
        human = relayed(conversation, inbound)
        if human:
            message.delivery = Delivery.PROCESSED
            message.sender = "customer"
            # No NLU while a human has the chat, but the agent sees the language.
            guess = language(inbound, conversation.language)
            message.language = conversation.language = guess.language
        looked = not human and takes(inbound)
        in_dialogue = looked and await DialogueRepository(session).get(conversation.id) is not None
        return Opened(
            conversation,
            message,
            conversation.state,
            conversation.language,
            human=human,
            returned=returned,
            in_dialogue=in_dialogue,
            no_dialogue=looked and not in_dialogue,
            waited=waited,
        )


def relayed(conversation: Conversation, inbound: InboundMessage) -> bool:
    """Whether the message goes to the person who has the chat instead of the bot: all of
    them, but a link code. The bot redeems that one (the code is a secret, not words for the
    agent); the chat stays the person's."""
    return conversation.state in HUMAN_STATES and link_code(inbound.payload or inbound.text) is None


async def recheck(session: AsyncSession, message_id: int) -> tuple[Message, Conversation]:
    """The message and its conversation, locked until the answer's transaction commits.

    An agent claiming the chat meanwhile waits for the turn, and a claim that got in
    while the NLU was parsing is seen here (the conversation is in a human state).
    """
    found = await MessageRepository(session).with_conversation(message_id, lock=True)
    assert found is not None
    return found


async def unanswered(
    db: Database, *, older_than_s: float = 0.0
) -> list[tuple[int, InboundMessage]]:
    """Messages stored but never answered (the bot stopped mid-turn), as channels gave them;
    ``older_than_s``: only those stored at least that long ago (a worker's orphans)."""
    stored_before = utcnow() - timedelta(seconds=older_than_s) if older_than_s else None
    async with db.transaction() as session:
        conversations = ConversationRepository(session)
        pending = []
        for row in await MessageRepository(session).unprocessed_inbound(
            stored_before=stored_before
        ):
            conversation = await conversations.get(row.conversation_id)
            if conversation is not None:
                pending.append((row.id, _as_inbound(row, conversation)))
        return pending


async def waiting_for_nlu(db: Database) -> list[tuple[int, InboundMessage]]:
    """Messages that met an NLU outage, oldest first."""
    async with db.transaction() as session:
        conversations = ConversationRepository(session)
        pending = []
        for row in await MessageRepository(session).waiting_for_nlu():
            conversation = await conversations.get(row.conversation_id)
            if conversation is not None:
                pending.append((row.id, _as_inbound(row, conversation)))
        return pending


@dataclass(frozen=True, slots=True)
class Earlier:
    """A message of the conversation stored before the one whose turn it is, unanswered."""

    row_id: int
    inbound: InboundMessage
    waiting_nlu: bool


async def unanswered_before(db: Database, message_id: int) -> list[Earlier]:
    """The conversation's messages stored before ``message_id`` and not answered yet, oldest
    first: one whose worker died or whose turn met a database outage, one stored by another
    worker a moment earlier, one that met an NLU outage. One query when there are none."""
    async with db.transaction() as session:
        rows = await MessageRepository(session).unanswered_before(message_id)
        if not rows:
            return []
        conversation = await ConversationRepository(session).get(rows[0].conversation_id)
        if conversation is None:
            return []
        return [
            Earlier(row.id, _as_inbound(row, conversation), row.delivery == Delivery.WAITING_NLU)
            for row in rows
        ]


def _as_inbound(row: Message, conversation: Conversation) -> InboundMessage:
    return InboundMessage(
        channel=row.channel,
        conversation_key=conversation.conversation_key,
        user_id=str(conversation.customer_id),
        text=row.text,
        message_id=row.platform_message_id or f"recovered-{row.id}",
        payload=row.payload,
    )
