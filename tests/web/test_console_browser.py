"""The whole handoff in a real Chromium: a customer in the web chat widget (and one on
Telegram, through the fake Bot API server), an agent in the console, the real engine and
a real Rasa server.

The customer escalates; the queue updates live on the agent's open page; the agent
claims, replies, writes a note, resolves; the customer sees the reply and the CSAT
buttons and rates. Hostile customer text stays text. The screenshots in docs/img/
come from here (HELPDESK_DOCS_SCREENSHOTS=1; otherwise they go to build/screenshots/).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy import select

from bot.channels.telegram.channel import TelegramChannel
from bot.channels.webchat import WebChatChannel
from bot.nlu.rasa_server import RasaSupervisor
from bot.settings import TelegramSettings
from bot.storage.database import Database
from bot.storage.models import Message, SurveyResponse
from bot.tickets.business_hours import BusinessHours
from tests.conftest import IN_CI
from tests.support.console import PASSWORD, serve_console
from tests.support.desk import DeskRig, WallClock, make_rig, test_policy
from tests.support.fake_telegram import FakeTelegram, TelegramUser
from tests.support.screenshots import screenshot_dir

pytestmark = pytest.mark.rasa

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# A closed network: no background connections, update checks or sync.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOTS = screenshot_dir()
HOSTILE = "<script>alert('x')</script> my order <img src=x onerror=alert(1)> is late"


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Browser]:
    if shutil.which("chromium") is None and not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail("Debian's chromium is not installed")
        pytest.skip("chromium not installed: apt-get install chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def desk_with_webchat(db: Database, rasa: RasaSupervisor) -> AsyncIterator[DeskRig]:
    nlu = rasa.client()
    rig = await make_rig(
        db,
        channel=WebChatChannel(),
        nlu=nlu,
        clock=WallClock(),
        policy=test_policy(hours=BusinessHours.always()),
    )
    await rig.add_agent("priya", languages=["en", "gu"], password=PASSWORD)
    await rig.add_agent("ravi", languages=["hi", "en"], password=PASSWORD)
    yield rig
    await nlu.close()


def watch_dialogs(page: Page, dialogs: list[str]) -> None:
    """Any alert() would mean injected script ran; record it (and dismiss it)."""

    async def on_dialog(dialog: object) -> None:
        dialogs.append(dialog.message)  # type: ignore[attr-defined]
        await dialog.dismiss()  # type: ignore[attr-defined]

    page.on("dialog", on_dialog)


async def customer_says(page: Page, text: str) -> None:
    await page.fill("#chat-input", text)
    await page.click("#chat-send")


async def log_in(page: Page, base: str, name: str, *, screenshot: str | None = None) -> None:
    await page.goto(f"{base}/console/")
    await expect(page).to_have_url(f"{base}/console/login")
    await page.fill('input[name="name"]', name)
    await page.fill('input[name="password"]', PASSWORD)
    if screenshot:
        await page.screenshot(path=str(SCREENSHOTS / screenshot))
    await page.click('button[type="submit"]')
    await expect(page).to_have_url(f"{base}/console/")
    await expect(page.locator("#live-status")).to_have_text("live")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_handoff_end_to_end_in_a_real_browser(
    chromium: Browser, desk_with_webchat: DeskRig
) -> None:
    rig = desk_with_webchat
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    dialogs: list[str] = []
    async with serve_console(rig, webchat=rig.channel) as base:
        agent = await chromium.new_page(viewport={"width": 1280, "height": 800})
        customer = await chromium.new_page(viewport={"width": 420, "height": 760})
        for page in (agent, customer):
            watch_dialogs(page, dialogs)
        try:
            await log_in(agent, base, "priya", screenshot="console-login.png")
            await expect(agent.locator("#queue-empty")).to_be_visible()
            # Mark this page: a reload would lose the mark, so the update must be live.
            await agent.evaluate("window.__stillHere = true")

            await customer.goto(f"{base}/")
            await expect(customer.locator("#chat-status")).to_have_text("connected")
            await customer_says(customer, "where is my order?")
            await expect(customer.locator(".msg-out")).to_have_count(1)
            await customer_says(customer, "/human")
            await expect(customer.locator(".msg-out").last).to_contain_text("next in line")
            await customer_says(customer, HOSTILE)

            queue = agent.locator("#queue .chat")
            await expect(queue).to_have_count(1)
            await expect(queue.first.locator(".chat-last")).to_have_text(HOSTILE)
            assert await agent.evaluate("window.__stillHere === true")
            await agent.screenshot(path=str(SCREENSHOTS / "console-queue.png"))

            await queue.first.locator("button.claim").click()
            await expect(agent.locator("#conv-state")).to_have_text("agent")
            await expect(customer.locator(".msg-out").last).to_contain_text("priya")

            timeline = agent.locator("#timeline")
            hostile = timeline.locator(".msg-in .text", has_text="is late")
            await expect(hostile).to_have_text(HOSTILE)  # shown literally, as typed
            assert await timeline.locator("img, script").count() == 0
            await expect(timeline.locator(".nlu").first).to_contain_text("faq/order_status")

            await agent.fill("#reply-text", "Hi! I'm Priya. Let me look at your order <b>now</b>.")
            await agent.click("#reply-send")
            reply = customer.locator(".msg-out").last
            await expect(reply).to_contain_text("Let me look at your order <b>now</b>.")
            await expect(agent.locator("#reply-text")).to_have_value("")

            await customer_says(customer, "thank you, it's order 4711")
            await expect(timeline.locator(".msg-in .text").last).to_have_text(
                "thank you, it's order 4711"
            )

            await agent.fill("#note-text", "Order 4711 left the warehouse today.")
            await agent.click("#note-send")
            await expect(timeline.locator(".note")).to_contain_text("left the warehouse")
            await agent.screenshot(path=str(SCREENSHOTS / "console-conversation.png"))

            await agent.click("#resolve")
            await expect(agent.locator("#conv-state")).to_have_text("resolved")
            csat = customer.locator(".msg-out").last
            await expect(csat).to_contain_text("How would you rate our help?")
            buttons = csat.locator("button.msg-button")
            await expect(buttons).to_have_count(5)
            await buttons.nth(4).click()
            await expect(customer.locator(".msg-out").last).to_contain_text(
                "Thank you for your answer"
            )
            await customer.screenshot(path=str(SCREENSHOTS / "console-customer.png"))
        finally:
            await agent.close()
            await customer.close()
    assert dialogs == []
    async with rig.db.transaction() as session:
        [rating] = (await session.scalars(select(SurveyResponse))).all()
        leaked = (
            await session.scalars(select(Message).where(Message.text.contains("warehouse")))
        ).all()
    assert rating.score == 5
    assert leaked == []  # the internal note never became a message to the customer


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_telegram_customer_reaches_the_console_and_back(
    chromium: Browser, db: Database, rasa: RasaSupervisor
) -> None:
    """The issue's scenario: the customer writes through the fake Telegram Bot API server."""
    alice = TelegramUser(2002, "Alice <img src=x onerror=alert(1)>", language_code="en")
    dialogs: list[str] = []
    async with FakeTelegram() as telegram:
        telegram.start_chat(alice)
        channel = TelegramChannel(
            token=telegram.token,
            settings=TelegramSettings(
                base_url=telegram.base_url, base_file_url=telegram.base_file_url, poll_timeout_s=1
            ),
        )
        nlu = rasa.client()
        rig = await make_rig(
            db,
            channel=channel,
            nlu=nlu,
            clock=WallClock(),
            policy=test_policy(hours=BusinessHours.always()),
        )
        await rig.add_agent("priya", password=PASSWORD)
        try:
            await channel.wait_connected(10)
            async with serve_console(rig) as base:
                agent = await chromium.new_page(viewport={"width": 1280, "height": 800})
                watch_dialogs(agent, dialogs)
                try:
                    await log_in(agent, base, "priya")
                    await agent.evaluate("window.__stillHere = true")

                    telegram.push_message(alice, "I want to speak to a human")
                    await telegram.wait_for(
                        "sendMessage", where=lambda c: "next in line" in c.params.get("text", "")
                    )
                    telegram.push_message(alice, HOSTILE)
                    queue = agent.locator("#queue .chat")
                    await expect(queue).to_have_count(1)
                    await expect(queue.first.locator(".chat-last")).to_have_text(HOSTILE)
                    await expect(queue.first.locator(".chat-customer")).to_have_text(
                        "Alice <img src=x onerror=alert(1)>"
                    )
                    await expect(queue.first).to_contain_text("telegram")
                    assert await agent.evaluate("window.__stillHere === true")

                    await queue.first.locator("button.claim").click()
                    await expect(agent.locator("#conv-state")).to_have_text("agent")
                    await telegram.wait_for(
                        "sendMessage",
                        where=lambda c: "priya from the VoltCart team" in c.params.get("text", ""),
                    )
                    timeline = agent.locator("#timeline")
                    await expect(
                        timeline.locator(".msg-in .text", has_text="is late")
                    ).to_have_text(HOSTILE)
                    assert await timeline.locator("img, script").count() == 0

                    await agent.fill("#reply-text", "Hello Alice, checking your order now.")
                    await agent.click("#reply-send")
                    [reply] = await telegram.wait_for(
                        "sendMessage",
                        where=lambda c: (
                            c.params.get("text") == "Hello Alice, checking your order now."
                        ),
                    )
                    assert reply.params["chat_id"] == alice.id  # recorded at the fake server

                    await agent.click("#resolve")
                    [question] = await telegram.wait_for(
                        "sendMessage",
                        where=lambda c: "How would you rate" in c.params.get("text", ""),
                    )
                    keyboard = question.params["reply_markup"]["inline_keyboard"]
                    assert [b["text"] for row in keyboard for b in row] == [
                        f"{n} ★" for n in range(1, 6)
                    ]
                    telegram.push_update(telegram.callback_update(alice, question, button=3))
                    await telegram.wait_for(
                        "sendMessage",
                        where=lambda c: c.params.get("text") == "Thank you for your answer!",
                    )
                finally:
                    await agent.close()
        finally:
            await channel.stop()
            await nlu.close()
    assert dialogs == []
    async with rig.db.transaction() as session:
        [rating] = (await session.scalars(select(SurveyResponse))).all()
    assert rating.score == 4


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_sla_alerts_reach_an_open_console_and_stay(
    chromium: Browser, desk_with_webchat: DeskRig
) -> None:
    from bot.events import DeskEvent, EventKind

    rig = desk_with_webchat
    async with serve_console(rig) as base:
        agent = await chromium.new_page(viewport={"width": 1280, "height": 800})
        try:
            await log_in(agent, base, "priya")
            # What the ticket service publishes when a target is breached (bot/tickets/service.py).
            rig.desk.events.publish(
                DeskEvent(
                    EventKind.TICKET,
                    None,
                    {
                        "ticket_id": 7,
                        "reference": "HD-1007",
                        "sla": "first_response_breach",
                        "due": "2026-11-23T09:00:00+00:00",
                    },
                )
            )
            alert = agent.locator("#sla-alerts .sla-alert")
            await expect(alert).to_have_count(1)
            await expect(alert).to_contain_text("HD-1007 first response overdue")
            await expect(alert).to_have_class("flash sla-alert breach")
            await agent.wait_for_timeout(7000)  # longer than a transient toast lives
            await expect(alert).to_have_count(1)
            await alert.click()
            await expect(alert).to_have_count(0)
        finally:
            await agent.close()
