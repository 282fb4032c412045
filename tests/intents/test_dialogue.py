"""Dialogues: an open one reads the next message, from the step table it is given."""

from __future__ import annotations

from bot.commands import CANCEL
from bot.intents import DIALOGUES, TurnContext, ticket
from bot.intents.dialogue import continue_dialogue, takes
from bot.messages import InboundMessage, OutboundMessage
from bot.storage.database import Database
from bot.storage.dialogues import DialogueRepository
from bot.storage.models import Dialogue
from tests.support.turns import inbound, phrase, turn


async def echo(
    message: InboundMessage, ctx: TurnContext, dialogue: Dialogue
) -> list[OutboundMessage]:
    return [OutboundMessage(f"{dialogue.name}/{dialogue.step}: {message.text}")]


STEPS = {"echo": echo}


async def open_echo(db: Database) -> None:
    message = inbound("start")
    async with turn(db, message) as ctx:
        await DialogueRepository(ctx.session).open(
            ctx.conversation.id, name="echo", step="one", data={}
        )


async def next_message(db: Database, message: InboundMessage) -> tuple[list[str] | None, bool]:
    """The dialogue's replies, and whether a dialogue is still open after the message."""
    async with turn(db, message) as ctx:
        replies = await continue_dialogue(message, ctx, STEPS)
        still_open = await DialogueRepository(ctx.session).get(ctx.conversation.id) is not None
    return (None if replies is None else [r.text for r in replies]), still_open


async def test_the_ticket_dialogue_runs_from_the_bots_table(db: Database) -> None:
    opening = inbound("/ticket")
    async with turn(db, opening) as ctx:
        await ticket.handle(opening, ctx)
    summary = inbound("Jar cracked")
    async with turn(db, summary) as ctx:
        replies = await continue_dialogue(summary, ctx, DIALOGUES)
    assert [r.text for r in replies or []] == [phrase("ticket_ask_details")]


async def test_no_open_dialogue_takes_nothing(db: Database) -> None:
    assert await next_message(db, inbound("hello")) == (None, False)


async def test_the_open_dialogue_gets_the_message(db: Database) -> None:
    await open_echo(db)
    assert await next_message(db, inbound("blue")) == (["echo/one: blue"], True)


async def test_cancel_ends_it_by_button_or_in_words(db: Database) -> None:
    for cancel in (inbound("Cancel", payload=CANCEL), inbound("रद्द करें")):
        await open_echo(db)
        assert takes(cancel)
        assert await next_message(db, cancel) == ([phrase("dialogue_cancelled")], False)


async def test_another_command_ends_it_and_is_handled_as_usual(db: Database) -> None:
    await open_echo(db)
    status = inbound("/status HD-1001")
    assert not takes(status)
    assert await next_message(db, status) == (None, False)


async def test_a_dialogue_the_bot_no_longer_runs_is_dropped(db: Database) -> None:
    message = inbound("start")
    async with turn(db, message) as ctx:
        await DialogueRepository(ctx.session).open(
            ctx.conversation.id, name="retired", step="x", data={}
        )
    assert await next_message(db, inbound("hello")) == (None, False)
