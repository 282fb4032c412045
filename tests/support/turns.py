"""One customer turn without the pipeline: a stored message and a real TurnContext over it.

For unit tests of the engine's steps and of each intent handler: the message is stored
as the gate stores it, and the context holds the open transaction a handler writes in
(committed when the ``async with`` block ends, as the engine commits a turn).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from bot.engine.gate import store_inbound
from bot.i18n import Catalogue
from bot.intents import TurnContext
from bot.knowledge.loader import KnowledgeBase, load_knowledge_base
from bot.messages import Attachment, InboundMessage
from bot.nlu.client import IntentScore, ParseResult
from bot.storage.database import Database
from bot.storage.models import Conversation, Message
from bot.storage.repositories import ConversationRepository, MessageRepository
from tests.conftest import TEST_KB

KB: KnowledgeBase = load_knowledge_base(TEST_KB)
CATALOGUE = Catalogue.load(default_language="en")
BRAND = "VoltCart"

_ids = itertools.count(1)


def inbound(
    text: str,
    *,
    user: str = "alice",
    payload: str | None = None,
    channel: str = "fake",
    attachments: tuple[Attachment, ...] = (),
    album: str | None = None,
) -> InboundMessage:
    """A customer message as a channel hands it over (a fresh platform id each time)."""
    return InboundMessage(
        channel=channel,
        conversation_key=f"chat-{user}",
        user_id=user,
        user_name=user.title(),
        text=text,
        payload=payload,
        message_id=f"m-{next(_ids)}",
        attachments=attachments,
        album=album,
    )


def understood(intent: str, confidence: float = 0.97, **entities: str) -> ParseResult:
    """What the NLU would have read: ``intent`` at ``confidence``, with ``entities``."""
    return ParseResult(
        text="",
        intent=intent,
        confidence=confidence,
        ranking=(IntentScore(intent, confidence),),
        entities=tuple({"entity": name, "value": value} for name, value in entities.items()),
    )


def phrase(key: str, language: str = "en", **values: object) -> str:
    return CATALOGUE.get(key, language, brand=BRAND, **values)


async def stored(db: Database, message: InboundMessage) -> int:
    """Store ``message`` as the gate does; its row id."""
    message_id = await store_inbound(db, message)
    assert message_id is not None
    return message_id


async def load(session: AsyncSession, message_id: int) -> tuple[Message, Conversation]:
    message = await MessageRepository(session).get(message_id)
    assert message is not None
    conversation = await ConversationRepository(session).get(message.conversation_id)
    assert conversation is not None
    return message, conversation


def context(
    session: AsyncSession,
    conversation: Conversation,
    message: Message,
    *,
    nlu: ParseResult | None = None,
    language: str = "en",
    low_confidence_turns: int = 2,
    ask_helpful: bool = False,
) -> TurnContext:
    return TurnContext(
        session=session,
        conversation=conversation,
        message=message,
        nlu=nlu,
        language=language,
        kb=KB,
        catalogue=CATALOGUE,
        brand=BRAND,
        default_language="en",
        low_confidence_turns=low_confidence_turns,
        ask_helpful=ask_helpful,
    )


@asynccontextmanager
async def turn(
    db: Database,
    message: InboundMessage,
    *,
    nlu: ParseResult | None = None,
    language: str = "en",
    low_confidence_turns: int = 2,
    ask_helpful: bool = False,
) -> AsyncIterator[TurnContext]:
    """Store ``message``, then give the context of its turn inside one transaction."""
    message_id = await stored(db, message)
    async with db.transaction() as session:
        row, conversation = await load(session, message_id)
        yield context(
            session,
            conversation,
            row,
            nlu=nlu,
            language=language,
            low_confidence_turns=low_confidence_turns,
            ask_helpful=ask_helpful,
        )
