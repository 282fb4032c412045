"""A customer the shop vouched for is greeted by name, in their language, and asked
whether they write about their open ticket."""

from __future__ import annotations

from bot.channels.webchat_identity import Identity
from bot.commands import parse
from bot.customers import CustomerDirectory
from bot.intents import smalltalk
from bot.storage.database import Database
from bot.storage.models import Ticket, TicketStatus
from bot.storage.repositories import TicketRepository
from tests.support.turns import inbound, phrase, turn

ASHA = Identity(external_id="42", name="Asha Patel", locale="gu", verified=True)


async def verified(db: Database, user: str, identity: Identity = ASHA) -> int:
    known = await CustomerDirectory(db).identify(
        namespace="shop", channel="fake", user_id=user, identity=identity
    )
    return known.customer_id


async def ticket(db: Database, customer_id: int, subject: str, status: TicketStatus) -> str:
    async with db.transaction() as session:
        made: Ticket = await TicketRepository(session).create(
            customer_id=customer_id,
            conversation_id=None,
            subject=subject,
            description="",
            language="en",
            actor="customer",
        )
        made.status = status
        assert made.reference is not None
        return made.reference


async def greet(db: Database, user: str, language: str = "en") -> list[tuple[str, list[str]]]:
    message = inbound("hello", user=user)
    async with turn(db, message, language=language) as ctx:
        replies = await smalltalk.greet(message, ctx)
    return [(r.text, [f"{b.title} -> {b.payload}" for b in r.buttons]) for r in replies]


async def test_a_verified_customer_is_greeted_by_name_in_their_language(db: Database) -> None:
    await verified(db, "asha")
    assert await greet(db, "asha", "gu") == [(phrase("greet_known", "gu", name="Asha Patel"), [])]


async def test_an_open_ticket_is_offered_as_the_topic(db: Database) -> None:
    customer = await verified(db, "asha")
    await ticket(db, customer, "old, done", TicketStatus.RESOLVED)
    reference = await ticket(db, customer, "broken charger", TicketStatus.OPEN)
    [hello, question] = await greet(db, "asha")
    assert hello[0] == phrase("greet_known", name="Asha Patel")
    assert question == (
        f'Is this about {reference}, "broken charger"?',
        [f"Yes, {reference} -> /status {reference}", "Something else -> /other"],
    )
    # The buttons say what they mean without the model: the ticket's status, or "no".
    yes, other = parse(f"/status {reference}"), parse("/other")
    assert yes is not None and yes.intent == "ticket_status"
    assert other is not None and other.intent == "deny"


async def test_only_open_tickets_are_offered(db: Database) -> None:
    customer = await verified(db, "asha")
    await ticket(db, customer, "done", TicketStatus.CLOSED)
    assert len(await greet(db, "asha")) == 1


async def test_a_name_nobody_vouched_for_gets_the_usual_greeting(db: Database) -> None:
    # A platform's display name ("Alice" on the fake channel), or a name a page typed in.
    await CustomerDirectory(db).identify(
        namespace="shop", channel="fake", user_id="bob", identity=Identity(name="Bob Typed")
    )
    assert await greet(db, "alice") == [(phrase("greet"), [])]
    assert await greet(db, "bob") == [(phrase("greet"), [])]
