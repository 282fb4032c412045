"""``ticket_status``: the customer's own tickets only; another's looks like a made-up one."""

from __future__ import annotations

from bot.intents import ticket_status
from bot.storage.database import Database
from bot.storage.models import Ticket, TicketStatus
from bot.storage.repositories import TicketRepository
from tests.support.turns import inbound, load, phrase, stored, turn


async def ticket_for(db: Database, user: str, subject: str) -> str:
    """A ticket of ``user``'s; its reference."""
    message_id = await stored(db, inbound("/ticket", user=user))
    async with db.transaction() as session:
        _, conversation = await load(session, message_id)
        ticket: Ticket = await TicketRepository(session).create(
            customer_id=conversation.customer_id,
            conversation_id=conversation.id,
            subject=subject,
            description="details",
            language="en",
            actor="customer",
        )
        assert ticket.reference is not None
        return ticket.reference


async def status(db: Database, text: str, *, user: str = "alice") -> str:
    message = inbound(text, user=user)
    async with turn(db, message) as ctx:
        [reply] = await ticket_status.handle(message, ctx)
    return reply.text


async def test_the_status_of_a_named_ticket(db: Database) -> None:
    reference = await ticket_for(db, "alice", "Jar cracked")
    text = await status(db, f"/status {reference}")
    assert text.startswith(f"Ticket {reference}: {phrase('status_' + TicketStatus.NEW.value)}")
    assert text.endswith(phrase("ticket_next_new"))


async def test_without_a_reference_the_latest_ticket(db: Database) -> None:
    await ticket_for(db, "alice", "First")
    latest = await ticket_for(db, "alice", "Second")
    assert (await status(db, "what about my ticket?")).startswith(f"Ticket {latest}:")


async def test_someone_elses_ticket_is_not_found(db: Database) -> None:
    reference = await ticket_for(db, "bob", "Bob's problem")
    assert await status(db, f"/status {reference}", user="alice") == phrase(
        "ticket_not_found", reference=reference
    )
    assert await status(db, "/status HD-9999", user="alice") == phrase(
        "ticket_not_found", reference="HD-9999"
    )


async def test_no_ticket_yet_asks_for_the_reference(db: Database) -> None:
    assert await status(db, "/status") == phrase("ticket_status_ask")
