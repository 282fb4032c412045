"""The gate alone: storing once, and which turns it lets through (real databases, no NLU)."""

from __future__ import annotations

from sqlalchemy import select

from bot.engine.gate import open_turn, recheck, store_inbound
from bot.messages import Attachment, InboundMessage
from bot.nlu.language import LanguageGuess
from bot.storage.database import Database
from bot.storage.dialogues import DialogueRepository
from bot.storage.models import (
    Attachment as AttachmentRow,
)
from bot.storage.models import (
    ConversationState,
    Delivery,
    HandoffEvent,
)
from tests.support.turns import inbound, load, stored


def hindi(_: InboundMessage, previous: str | None) -> LanguageGuess:
    return LanguageGuess("hi", "script")


async def set_state(db: Database, message_id: int, state: ConversationState) -> None:
    async with db.transaction() as session:
        _, conversation = await load(session, message_id)
        conversation.state = state


async def test_a_message_is_stored_once_whatever_the_redeliveries(db: Database) -> None:
    message = inbound("where is my order")
    first = await store_inbound(db, message)
    assert first is not None
    assert await store_inbound(db, message) is None
    async with db.transaction() as session:
        row, conversation = await load(session, first)
    assert (row.text, row.delivery, conversation.conversation_key) == (
        "where is my order",
        Delivery.RECEIVED,
        "chat-alice",
    )


async def test_attachments_are_stored_with_their_album(db: Database) -> None:
    photo = Attachment(kind="photo", file_id="f-1", details={"width": 10})
    message_id = await stored(db, inbound("", attachments=(photo,), album="album-9"))
    async with db.transaction() as session:
        [row] = (await session.scalars(select(AttachmentRow))).all()
    assert (row.message_id, row.kind, row.platform_file_id) == (message_id, "photo", "f-1")
    assert row.details == {"width": 10, "album": "album-9"}


async def test_a_message_for_the_bot_opens_a_turn(db: Database) -> None:
    message = inbound("where is my order")
    opened = await open_turn(db, message, await stored(db, message), language=hindi)
    assert not (opened.handled or opened.human or opened.returned or opened.in_dialogue)
    assert opened.state_before == ConversationState.BOT


async def test_a_message_already_answered_ends_the_turn(db: Database) -> None:
    message = inbound("where is my order")
    message_id = await stored(db, message)
    async with db.transaction() as session:
        row, _ = await load(session, message_id)
        row.delivery = Delivery.PROCESSED
    assert (await open_turn(db, message, message_id, language=hindi)).handled


async def test_a_human_owned_chat_keeps_the_message_for_the_agent(db: Database) -> None:
    first = inbound("/human")
    await set_state(db, await stored(db, first), ConversationState.QUEUED)
    message = inbound("नमस्ते, कोई है?")
    message_id = await stored(db, message)
    opened = await open_turn(db, message, message_id, language=hindi)
    assert opened.human and not opened.in_dialogue
    async with db.transaction() as session:
        row, conversation = await load(session, message_id)
    # Not read by the NLU, but processed, and the agent sees its language.
    assert (row.delivery, row.sender, row.language) == (Delivery.PROCESSED, "customer", "hi")
    assert row.intent is None and conversation.language == "hi"


async def test_a_resolved_chat_written_to_again_is_the_bots_again(db: Database) -> None:
    await set_state(db, await stored(db, inbound("thanks")), ConversationState.RESOLVED)
    message = inbound("one more question")
    opened = await open_turn(db, message, await stored(db, message), language=hindi)
    assert opened.returned and not opened.human
    assert opened.state_before == ConversationState.BOT
    async with db.transaction() as session:
        [event] = (await session.scalars(select(HandoffEvent))).all()
    assert (event.from_state, event.to_state, event.reason) == (
        ConversationState.RESOLVED,
        ConversationState.BOT,
        "customer_returned",
    )


async def test_a_rating_leaves_the_resolved_chat_resolved(db: Database) -> None:
    await set_state(db, await stored(db, inbound("thanks")), ConversationState.RESOLVED)
    rating = inbound("5 ★", payload="/csat 5")
    opened = await open_turn(db, rating, await stored(db, rating), language=hindi)
    assert not opened.returned
    assert opened.state_before == ConversationState.RESOLVED


async def test_an_open_dialogue_reads_words_but_not_commands(db: Database) -> None:
    first_id = await stored(db, inbound("/ticket"))
    async with db.transaction() as session:
        _, conversation = await load(session, first_id)
        await DialogueRepository(session).open(
            conversation.id, name="create_ticket", step="summary", data={}
        )
    words = inbound("The blender jar cracked")
    command = inbound("/status HD-1001")
    opened = await open_turn(db, words, await stored(db, words), language=hindi)
    assert opened.in_dialogue and not opened.no_dialogue
    opened = await open_turn(db, command, await stored(db, command), language=hindi)
    # A command does not look (the answer's dialogue step closes what it interrupts).
    assert not opened.in_dialogue and not opened.no_dialogue


async def test_the_gate_says_when_it_looked_and_found_no_dialogue(db: Database) -> None:
    # The answer then skips its own look: no second read of the dialogue in one turn.
    words = inbound("where is my order?")
    opened = await open_turn(db, words, await stored(db, words), language=hindi)
    assert opened.no_dialogue and not opened.in_dialogue


async def test_the_recheck_sees_a_claim_made_while_the_nlu_read(db: Database) -> None:
    message = inbound("where is my order")
    message_id = await stored(db, message)
    opened = await open_turn(db, message, message_id, language=hindi)
    await set_state(db, message_id, ConversationState.AGENT)  # an agent claimed it meanwhile
    async with db.transaction() as session:
        row, conversation = await recheck(session, message_id)
    assert row.id == message_id
    assert opened.state_before == ConversationState.BOT
    assert conversation.state == ConversationState.AGENT
