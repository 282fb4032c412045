"""Times in the console are in the team's zone (``handoff.business_hours``), zone named,
as the bot tells customers: over HTTP, and in a real Chromium set to another zone (the
live parts are written by console.js in the browser)."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, async_playwright, expect

from bot.desk.accounts import set_timezone
from bot.events import DeskEvent, EventKind
from bot.storage.database import Database
from bot.web.app import create_web_app
from bot.web.console.pages import team_clock, team_time, use_team_zone
from bot.web.console.tickets import TicketPages
from tests.conftest import IN_CI
from tests.support.console import PASSWORD, AgentClient, make_console
from tests.support.server import serve
from tests.support.tickets import TicketRig, make_ticket_rig

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The test desk works Asia/Kolkata hours (tests/support/desk.py): an urgent ticket opened
# at 06:00 UTC is due for a first response at 07:00 UTC, 12:30 in India.
DUE_IN_INDIA = "2026-11-25 12:30 IST"
DUE_IN_BERLIN = "2026-11-25 08:00 CET"  # for an agent who set their own zone


def test_team_time_names_the_zone() -> None:
    assert team_time("2026-11-25T07:00:00+00:00", "Asia/Kolkata") == DUE_IN_INDIA
    assert team_time("2026-07-01T12:00:00", "Europe/London") == "2026-07-01 13:00 BST"
    assert team_time("2026-11-25T07:00:00+00:00", "UTC") == "2026-11-25 07:00 UTC"
    assert team_time(None, "UTC") == "—"
    # Datetimes as the knowledge-base page has them (aware, or naive UTC from SQLite).
    noon = datetime(2026, 11, 25, 6, 30)
    assert team_time(noon, "Asia/Kolkata") == team_time(noon.replace(tzinfo=UTC), "Asia/Kolkata")
    assert team_time(noon, "Asia/Kolkata") == "2026-11-25 12:00 IST"
    assert team_clock(noon, "Asia/Kolkata") == "12:00 IST"


@pytest.fixture
async def desk(db: Database) -> AsyncIterator[tuple[TicketRig, str]]:
    t = await make_ticket_rig(db)
    await t.rig.add_agent("maya", password=PASSWORD)
    await t.rig.add_agent("lena", password=PASSWORD)
    await set_timezone(t.rig.db, name="lena", timezone="Europe/Berlin")
    console = make_console(t.rig)
    console.extra_routes += TicketPages(console.sessions, t.service).routes()
    await t.service.create(subject="Card declined", description="", priority="urgent", actor="x")

    async def readiness() -> dict[str, object]:
        return {"ready": True}

    app = create_web_app(engine=t.rig.engine, webchat=None, readiness=readiness, console=console)
    async with serve(app) as address:
        yield t, f"http://{address}"
    use_team_zone(ZoneInfo("UTC"))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_ticket_due_times_are_in_the_team_zone(desk: tuple[TicketRig, str]) -> None:
    t, base = desk
    await t.push("hello")
    client = AgentClient(base)
    try:
        assert (await client.login("maya")).status_code == 303
        listing = (await client.http.get("/console/tickets")).text
        detail = (await client.http.get("/console/tickets/1")).text
        chat = (await client.http.get("/console/c/1")).text
    finally:
        await client.close()
    assert DUE_IN_INDIA in listing
    assert DUE_IN_INDIA in detail
    assert "07:00" not in listing + detail  # no bare UTC left
    # The chat's timeline, before console.js runs (or without it): India time, named.
    assert re.search(r"<time datetime=\"[^\"]+\+00:00\">\d\d:\d\d IST</time>", chat), chat


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_an_agent_with_a_zone_of_their_own_sees_it_named(
    desk: tuple[TicketRig, str],
) -> None:
    t, base = desk
    await t.push("hello")
    client = AgentClient(base)
    try:
        assert (await client.login("lena")).status_code == 303
        listing = (await client.http.get("/console/tickets")).text
        detail = (await client.http.get("/console/tickets/1")).text
        chat = (await client.http.get("/console/c/1")).text
    finally:
        await client.close()
    assert DUE_IN_BERLIN in listing and DUE_IN_BERLIN in detail
    assert "IST" not in listing + detail
    assert 'data-zone="Europe/Berlin"' in chat  # what console.js writes live times in
    assert re.search(r"<time datetime=\"[^\"]+\+00:00\">\d\d:\d\d CET</time>", chat), chat
    # Her colleague without a zone of their own still sees the team's.
    await set_timezone(t.rig.db, name="lena", timezone=None)
    client = AgentClient(base)
    try:
        assert (await client.login("lena")).status_code == 303
        assert DUE_IN_INDIA in (await client.http.get("/console/tickets")).text
    finally:
        await client.close()


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Browser]:
    if shutil.which("chromium") is None and not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail("Debian's chromium is not installed")
        pytest.skip("chromium not installed: apt-get install chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        yield browser
        await browser.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_browser_in_new_york_sees_the_team_zone(
    chromium: Browser, desk: tuple[TicketRig, str]
) -> None:
    t, base = desk
    context = await chromium.new_context(timezone_id="America/New_York")
    page = await context.new_page()
    try:
        await page.goto(f"{base}/console/login")
        await page.fill('input[name="name"]', "maya")
        await page.fill('input[name="password"]', PASSWORD)
        await page.click('button[type="submit"]')
        await expect(page.locator("#live-status")).to_have_text("live")
        # A live SLA alert: console.js writes its time, in the team's zone, named.
        t.rig.desk.events.publish(
            DeskEvent(
                EventKind.TICKET,
                None,
                {
                    "ticket_id": 1,
                    "reference": "HD-1001",
                    "sla": "first_response_breach",
                    "due": "2026-11-25T07:00:00+00:00",
                },
            )
        )
        alert = page.locator("#sla-alerts .sla-alert")
        await expect(alert).to_contain_text(re.compile(r"\(due 12:30 (GMT\+5:30|IST)\)"))
        await page.goto(f"{base}/console/tickets/1")
        await expect(page.locator(".due").first).to_have_text(DUE_IN_INDIA)
        # A chat's timeline, rewritten by console.js in the browser: still India time.
        await t.push("hello")
        await page.goto(f"{base}/console/c/1")
        india = re.compile(r"^\d\d:\d\d (GMT\+5:30|IST)$")
        await expect(page.locator("#timeline time").first).to_have_text(india)
    finally:
        await context.close()
    # An agent with a zone of their own: the page and console.js's live times are in it.
    context = await chromium.new_context(timezone_id="America/New_York")
    page = await context.new_page()
    try:
        await page.goto(f"{base}/console/login")
        await page.fill('input[name="name"]', "lena")
        await page.fill('input[name="password"]', PASSWORD)
        await page.click('button[type="submit"]')
        await page.goto(f"{base}/console/tickets/1")
        await expect(page.locator(".due").first).to_have_text(DUE_IN_BERLIN)
        await page.goto(f"{base}/console/c/1")
        berlin = re.compile(r"^\d\d:\d\d (GMT\+1|CET)$")
        await expect(page.locator("#timeline time").first).to_have_text(berlin)
    finally:
        await context.close()
