"""The ticket creation dialogue (two languages, cancel, bad input at each step) and
status privacy, through the real engine with a scripted NLU."""

from __future__ import annotations

from sqlalchemy import select

from bot.storage.database import Database
from bot.storage.models import Dialogue, TicketStatus
from tests.support.fake_channel import FakeChannel
from tests.support.tickets import make_ticket_rig


class WebChatLike(FakeChannel):
    """A channel that does not identify the customer (as the anonymous web chat)."""

    name = "webchat"


async def open_dialogues(db: Database) -> int:
    async with db.transaction() as session:
        return len(list(await session.scalars(select(Dialogue))))


async def test_english_dialogue_with_bad_input_at_each_step(db: Database) -> None:
    t = await make_ticket_rig(db)
    first = await t.rig.channel.push("/ticket", user="alice")
    assert [m.text for m in first] == [t.phrase("ticket_ask_summary")]
    assert [b.payload for b in first[0].buttons] == ["/cancel"]

    assert await t.push("bad") == [t.phrase("ticket_summary_too_short", min=5)]
    assert await t.push("x" * 201) == [t.phrase("ticket_summary_too_long", max=200)]
    assert await t.push("My blender arrived broken") == [t.phrase("ticket_ask_details")]
    assert await t.push("  short ") == [t.phrase("ticket_details_too_short", min=10)]
    assert await t.push("y" * 4001) == [t.phrase("ticket_details_too_long", max=4000)]
    calls_before = t.rig.nlu.calls
    replies = await t.push("Order 5521, delivered on Monday, the jar is cracked.")
    # Every answer went to the dialogue, none to the intent model.
    assert t.rig.nlu.calls == calls_before == 0

    (ticket,) = await t.tickets()
    assert ticket.reference == "HD-1001"
    assert replies == [
        t.phrase("ticket_confirmed", reference="HD-1001", priority=t.phrase("priority_high"))
    ]
    assert ticket.subject == "My blender arrived broken"
    assert ticket.description == "Order 5521, delivered on Monday, the jar is cracked."
    assert ticket.priority == "high"  # "broken": a damaged product
    assert ticket.status == TicketStatus.NEW
    assert ticket.language == "en"
    assert ticket.contact is None  # the channel identifies the customer: not asked
    assert await open_dialogues(db) == 0
    # The dialogue is over: the next message goes to the model again.
    assert await t.push("hello") == [t.phrase("greet")]


async def test_gujarati_dialogue_from_the_intent_and_urgent_priority(db: Database) -> None:
    t = await make_ticket_rig(db)
    assert await t.push("મારે ફરિયાદ કરવી છે") == [t.phrase("ticket_ask_summary", "gu")]
    assert await t.push("ખરાબ") == [t.phrase("ticket_summary_too_short", "gu", min=5)]
    assert await t.push("મારું પેમેન્ટ બે વાર કપાયું") == [t.phrase("ticket_ask_details", "gu")]
    replies = await t.push("ઓર્ડર 7781 માટે બે વાર પૈસા કપાયા, તાત્કાલિક મદદ કરો")
    (ticket,) = await t.tickets()
    assert replies == [
        t.phrase(
            "ticket_confirmed",
            "gu",
            reference=ticket.reference,
            priority=t.phrase("priority_urgent", "gu"),
        )
    ]
    assert ticket.priority == "urgent"
    assert ticket.language == "gu"


async def test_hindi_cancel_saves_nothing(db: Database) -> None:
    t = await make_ticket_rig(db)
    assert await t.push("मुझे शिकायत करनी है") == [t.phrase("ticket_ask_summary", "hi")]
    assert await t.push("मेरा ऑर्डर टूटा हुआ आया") == [t.phrase("ticket_ask_details", "hi")]
    assert await t.push("रद्द करें") == [t.phrase("dialogue_cancelled", "hi")]
    assert await t.tickets() == []
    assert await open_dialogues(db) == 0


async def test_cancel_button_and_word_at_every_step(db: Database) -> None:
    t = await make_ticket_rig(db, channel=WebChatLike())
    for answers in ([], ["The app crashes on login"], ["The app crashes on login", "x" * 20]):
        await t.push("/ticket")
        for answer in answers:
            await t.push(answer)
        assert await t.push("Cancel", payload="/cancel") == [t.phrase("dialogue_cancelled")]
    await t.push("/ticket")
    assert await t.push("stop") == [t.phrase("dialogue_cancelled")]
    assert await t.tickets() == []


async def test_anonymous_channel_asks_for_a_valid_contact(db: Database) -> None:
    t = await make_ticket_rig(db, channel=WebChatLike())
    await t.push("/ticket Refund not received yet")  # the summary as the argument
    assert await t.push("I returned order 123 three weeks ago.") == [t.phrase("ticket_ask_contact")]
    assert await t.push("call me maybe") == [t.phrase("ticket_contact_invalid")]
    assert await t.push("not@an") == [t.phrase("ticket_contact_invalid")]
    replies = await t.push("alice@example.com")
    (ticket,) = await t.tickets()
    assert ticket.contact == "alice@example.com"
    assert ticket.subject == "Refund not received yet"
    assert ticket.priority == "high"  # a refund
    assert replies[0].startswith("Your ticket HD-")


async def test_another_command_ends_the_dialogue(db: Database) -> None:
    t = await make_ticket_rig(db)
    await t.push("/ticket")
    assert await t.push("/status") == [t.phrase("ticket_status_ask")]
    assert await open_dialogues(db) == 0
    assert await t.push("hello") == [t.phrase("greet")]


async def test_status_privacy(db: Database) -> None:
    t = await make_ticket_rig(db)
    await t.push("/ticket Parcel lost in transit", user="alice")
    await t.push("Tracking number ABC123 has not moved for ten days.", user="alice")
    (ticket,) = await t.tickets()
    reference = ticket.reference
    assert reference is not None

    own = await t.push(f"/status {reference}", user="alice")
    assert len(own) == 1 and own[0].startswith(f"Ticket {reference}:")
    assert t.phrase("ticket_next_new") in own[0]

    # Bob learns nothing: the answer for Alice's ticket is the one for a made-up number.
    theirs = await t.push(f"/status {reference}", user="bob")
    made_up = await t.push("/status HD-9999", user="bob")
    assert theirs == [t.phrase("ticket_not_found", reference=reference)]
    assert made_up == [t.phrase("ticket_not_found", reference="HD-9999")]
    assert theirs[0].replace(reference, "HD-9999") == made_up[0]
    # Without a reference Bob gets asked for one, not Alice's latest ticket.
    assert await t.push("what is the status of my ticket", user="bob") == [
        t.phrase("ticket_status_ask")
    ]
    # ... and writing "HD-1001" to the bot does not attach Bob to Alice's ticket.
    assert await t.events(ticket.id) == [("created", "customer", "")]
