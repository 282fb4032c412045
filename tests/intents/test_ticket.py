"""``create_ticket``: summary -> details (-> contact on the web chat) -> a ticket."""

from __future__ import annotations

from sqlalchemy import select

from bot.commands import CANCEL
from bot.intents import ticket
from bot.nlu.client import parse_command
from bot.storage.database import Database
from bot.storage.dialogues import DialogueRepository
from bot.storage.models import Dialogue, Ticket
from tests.support.turns import inbound, phrase, turn


async def start(db: Database, text: str = "/ticket", *, channel: str = "fake") -> list[str]:
    message = inbound(text, channel=channel)
    async with turn(db, message, nlu=parse_command(text)) as ctx:
        replies = await ticket.handle(message, ctx)
    assert all(r.buttons[0].payload == CANCEL for r in replies)
    return [r.text for r in replies]


async def answer(db: Database, text: str, *, channel: str = "fake") -> list[str]:
    """The next message of the open dialogue, through its step."""
    message = inbound(text, channel=channel)
    async with turn(db, message) as ctx:
        dialogue = await DialogueRepository(ctx.session).get(ctx.conversation.id)
        assert dialogue is not None and dialogue.name == ticket.DIALOGUE
        replies = await ticket.continue_dialogue(message, ctx, dialogue)
    return [r.text for r in replies]


async def open_dialogue(db: Database) -> Dialogue | None:
    async with db.transaction() as session:
        return (await session.scalars(select(Dialogue))).one_or_none()


async def tickets(db: Database) -> list[Ticket]:
    async with db.transaction() as session:
        return list((await session.scalars(select(Ticket))).all())


async def test_the_dialogue_asks_the_summary_then_the_details_then_opens_it(
    db: Database,
) -> None:
    assert await start(db) == [phrase("ticket_ask_summary")]
    assert await answer(db, "Jar cracked") == [phrase("ticket_ask_details")]
    replies = await answer(db, "It arrived cracked on Monday, order 5521.")
    [opened] = await tickets(db)
    assert (opened.subject, opened.description) == (
        "Jar cracked",
        "It arrived cracked on Monday, order 5521.",
    )
    assert opened.reference == "HD-1001" and opened.contact is None
    assert replies == [
        phrase(
            "ticket_confirmed",
            reference="HD-1001",
            priority=phrase(f"priority_{opened.priority}"),
        )
    ]
    assert await open_dialogue(db) is None


async def test_a_summary_given_with_the_command_skips_the_first_question(db: Database) -> None:
    assert await start(db, "/ticket Blender jar cracked") == [phrase("ticket_ask_details")]
    dialogue = await open_dialogue(db)
    assert dialogue is not None
    assert (dialogue.step, dialogue.data) == ("details", {"summary": "Blender jar cracked"})


async def test_an_answer_that_will_not_do_is_asked_again_saying_why(db: Database) -> None:
    await start(db)
    assert await answer(db, "bad") == [phrase("ticket_summary_too_short", min=5)]
    assert await answer(db, "x" * 201) == [phrase("ticket_summary_too_long", max=200)]
    dialogue = await open_dialogue(db)
    assert dialogue is not None and dialogue.step == "summary"


async def test_the_anonymous_web_chat_is_asked_how_to_reach_the_customer(db: Database) -> None:
    await start(db, channel="webchat")
    await answer(db, "Jar cracked", channel="webchat")
    details = "It arrived cracked on Monday, order 5521."
    assert await answer(db, details, channel="webchat") == [phrase("ticket_ask_contact")]
    assert await answer(db, "call me maybe", channel="webchat") == [
        phrase("ticket_contact_invalid")
    ]
    assert await tickets(db) == []
    await answer(db, "alice@example.com", channel="webchat")
    [opened] = await tickets(db)
    assert opened.contact == "alice@example.com"
