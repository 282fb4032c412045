"""One customer behind several channel identities: verified identities link, unverified
claims never reach a verified customer. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.channels.webchat_identity import Identity
from bot.customers import CustomerDirectory, IdentityConflict
from bot.storage.customers import CustomerRepository
from bot.storage.database import Database
from bot.storage.models import Customer, Ticket
from bot.storage.repositories import ConversationRepository

ASHA = Identity(external_id="42", name="Asha Patel", email="asha@example.com", verified=True)


async def conversation_of(db: Database, session_id: str) -> tuple[int, int]:
    """The web chat conversation the engine opens for a session: (its id, its customer)."""
    async with db.transaction() as session:
        conversation = await ConversationRepository(session).get_or_create(
            channel="webchat", conversation_key=session_id, user_id=session_id, user_name=None
        )
        return conversation.id, conversation.customer_id


async def customer(db: Database, customer_id: int) -> Customer:
    async with db.transaction() as session:
        found = await CustomerRepository(session).get(customer_id)
        assert found is not None
        return found


async def identify(db: Database, session_id: str, identity: Identity, site: str = "shop") -> int:
    known = await CustomerDirectory(db).identify(
        namespace=site, channel="webchat", user_id=session_id, identity=identity
    )
    return known.customer_id


async def test_a_verified_customer_is_one_customer_on_every_device(db: Database) -> None:
    phone = await identify(db, "phone-session", ASHA)
    laptop = await identify(db, "laptop-session", ASHA)
    assert phone == laptop
    _, on_phone = await conversation_of(db, "phone-session")
    _, on_laptop = await conversation_of(db, "laptop-session")
    assert on_phone == on_laptop == phone
    asha = await customer(db, phone)
    assert (asha.verified, asha.display_name, asha.email, asha.external_id) == (
        True,
        "Asha Patel",
        "asha@example.com",
        "shop:42",
    )
    # Another site's customer 42 is someone else.
    assert await identify(db, "other-shop-session", ASHA, site="other") != phone


async def test_an_anonymous_chat_that_signs_in_becomes_the_customers(db: Database) -> None:
    conversation_id, anonymous = await conversation_of(db, "browser-session")
    async with db.transaction() as session:
        session.add(
            Ticket(customer_id=anonymous, conversation_id=conversation_id, subject="broken charger")
        )
    verified = await identify(db, "browser-session", ASHA)
    assert verified != anonymous
    assert (await conversation_of(db, "browser-session"))[1] == verified
    async with db.transaction() as session:
        owners = (await session.scalars(select(Ticket.customer_id))).all()
    assert owners == [verified]


async def test_unsigned_claims_never_reach_a_verified_customer(db: Database) -> None:
    verified = await identify(db, "asha-session", ASHA)
    # Someone types Asha's name and email into another chat: a separate, unverified one.
    impostor = await identify(
        db, "impostor-session", Identity(name="Asha Patel", email="asha@example.com")
    )
    assert impostor != verified
    assert not (await customer(db, impostor)).verified
    # Unsigned claims on a verified session do not change the verified customer either.
    assert await identify(db, "asha-session", Identity(name="Someone Else")) == verified
    assert (await customer(db, verified)).display_name == "Asha Patel"


async def test_a_verified_chat_is_not_taken_over_by_another_verified_customer(
    db: Database,
) -> None:
    await identify(db, "shared-session", ASHA)
    with pytest.raises(IdentityConflict):
        await identify(db, "shared-session", Identity(external_id="43", verified=True))


async def test_the_shops_latest_word_updates_the_customer(db: Database) -> None:
    first = await identify(db, "s-1", ASHA)
    later = Identity(external_id="42", name="Asha P. Shah", locale="gu-IN", verified=True)
    assert await identify(db, "s-2", later) == first
    asha = await customer(db, first)
    assert (asha.display_name, asha.email, asha.language) == (
        "Asha P. Shah",
        "asha@example.com",
        "gu",
    )
