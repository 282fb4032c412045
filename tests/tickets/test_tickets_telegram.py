"""The full ticket loop through the fake Telegram Bot API and the real Telegram channel:
create -> agent public reply -> customer notified -> customer answers -> resolved -> CSAT."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.storage.database import Database
from bot.storage.models import SurveyRequest, SurveyResponse, TicketStatus
from tests.support.fake_telegram import Call, FakeTelegram, TelegramUser
from tests.support.tickets import TicketRig, make_ticket_rig, polling_telegram

pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")

ALICE = TelegramUser(1001, "Alice", language_code="en")
TELUGU = TelegramUser(1004, "Lakshmi", language_code="te")


@pytest.fixture
async def telegram(db: Database) -> AsyncIterator[tuple[FakeTelegram, TicketRig]]:
    async with FakeTelegram() as fake:
        channel = polling_telegram(fake)
        rig = await make_ticket_rig(db, channel=channel)
        await channel.wait_connected(10)
        yield fake, rig
        await channel.stop()


def text(call: Call) -> str:
    return str(call.result["text"])


async def test_full_ticket_loop_over_telegram(
    telegram: tuple[FakeTelegram, TicketRig],
) -> None:
    fake, t = telegram
    fake.push_message(ALICE, "/ticket")
    [ask] = await fake.wait_for("sendMessage")
    assert text(ask) == t.phrase("ticket_ask_summary")
    assert ask.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "/cancel"
    fake.push_message(ALICE, "My blender arrived broken")
    await fake.wait_for("sendMessage", 2)
    fake.push_message(ALICE, "Order 5521, delivered on Monday, the jar is cracked.")
    sent = await fake.wait_for("sendMessage", 3)
    assert text(sent[-1]) == t.phrase(
        "ticket_confirmed", reference="HD-1001", priority=t.phrase("priority_high")
    )
    (ticket,) = await t.tickets()

    # The agent answers from the console (the service); the customer sees it on Telegram.
    agent = await t.rig.add_agent("maya")
    await t.service.public_reply(
        ticket.id, "Sorry! Please send a photo of the jar.", actor="maya", agent_id=agent
    )
    sent = await fake.wait_for("sendMessage", 4)
    assert text(sent[-1]) == t.phrase(
        "ticket_answered", reference="HD-1001", text="Sorry! Please send a photo of the jar."
    )
    assert sent[-1].params["chat_id"] == ALICE.id
    assert (await t.tickets())[0].status == TicketStatus.PENDING

    # The customer answers on Telegram; it lands on the ticket.
    fake.push_message(ALICE, "The crack is on the left side, 3 cm long")
    sent = await fake.wait_for("sendMessage", 5)
    assert text(sent[-1]) == t.phrase("ticket_reply_added", reference="HD-1001")
    assert (await t.tickets())[0].status == TicketStatus.OPEN
    replies = [d for k, _, d in await t.events(ticket.id) if k == "customer_reply"]
    assert replies == ["The crack is on the left side, 3 cm long"]

    # Resolved: the customer is told and asked for a rating, and rates with a button.
    await t.service.set_status(ticket.id, TicketStatus.RESOLVED, actor="maya")
    sent = await fake.wait_for("sendMessage", 7)
    assert text(sent[-2]) == t.phrase("ticket_resolved", reference="HD-1001")
    assert text(sent[-1]) == t.phrase("csat_request")
    press = fake.callback_update(ALICE, sent[-1], button=4)
    assert press["callback_query"]["data"] == "/survey 1 5"
    fake.push_update(press)
    await fake.wait_for("answerCallbackQuery")
    sent = await fake.wait_for("sendMessage", 8)
    assert text(sent[-1]) == t.phrase("survey_thanks")
    async with t.rig.db.transaction() as session:
        ratings = [
            (request.kind, response.score)
            for request, response in await session.execute(
                select(SurveyRequest, SurveyResponse).join(SurveyResponse)
            )
        ]
    assert ratings == [("csat", 5)]


async def test_notifications_use_the_customers_language(
    telegram: tuple[FakeTelegram, TicketRig],
) -> None:
    fake, t = telegram
    fake.push_message(TELUGU, "/ticket")
    await fake.wait_for("sendMessage")
    fake.push_message(TELUGU, "నా ఆర్డర్ ఇంకా రాలేదు")
    await fake.wait_for("sendMessage", 2)
    fake.push_message(TELUGU, "ఆర్డర్ 8812 పది రోజుల క్రితం పంపబడింది కానీ ఇంకా రాలేదు")
    sent = await fake.wait_for("sendMessage", 3)
    assert "HD-1001" in text(sent[-1])
    (ticket,) = await t.tickets()
    assert ticket.language == "te"
    await t.service.set_status(ticket.id, TicketStatus.PENDING, actor="maya")
    sent = await fake.wait_for("sendMessage", 4)
    assert text(sent[-1]) == t.phrase("ticket_needs_input", "te", reference="HD-1001")
