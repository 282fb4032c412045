"""The embed snippet in a real Chromium: a shop's page on another origin carries only the
``<script src=".../widget.js">`` tag; the customer opens the bubble and chats. A page on
an origin the site key does not list gets no chat: the frame is refused by
``frame-ancestors`` and the socket by its ``Origin`` check.

The NLU is the scripted one (tests/support/desk.py): what is tested is the page, the
frame and the socket, not the model, and Rasa is not started.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from bot.channels.webchat import WebChatChannel
from bot.channels.webchat_sites import Site, site_map
from bot.customers.linking import LinkCodes, looks_like_code
from bot.i18n import Catalogue
from bot.knowledge.loader import load_knowledge_base
from bot.storage.database import Database
from bot.storage.models import Conversation, Message
from tests.conftest import IN_CI, TEST_KB
from tests.support.console import PASSWORD, serve_console
from tests.support.desk import DeskRig, WallClock, make_rig
from tests.support.identity import customer_token
from tests.support.screenshots import screenshot_dir
from tests.support.server import serve
from tests.support.waiting import wait_until

KB = load_knowledge_base(TEST_KB)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SITE_KEY = "voltcart-shop"
SECRET = b"the shop's widget secret"
WAIT_MS = 20_000  # generous: two shared cores


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if shutil.which("chromium") is None:
        if IN_CI:
            pytest.fail("Debian's chromium is not installed (make test installs it)")
        pytest.skip("chromium not installed: apt-get install chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


def shop_page(bot: str, attributes: str) -> str:
    """A shop's page: its own content and the snippet, nothing else of the bot's."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chargers and cables | Example shop</title></head>
<body style="font-family: sans-serif; margin: 0; padding: 32px; background: #fafaf7">
<h1>Example shop</h1>
<p>Fast chargers, cables and power banks, delivered tomorrow.</p>
<ul><li>65 W USB-C charger</li><li>2 m braided cable</li><li>20,000 mAh power bank</li></ul>
<script src="http://{bot}/widget.js" data-site-key="{SITE_KEY}" {attributes} async></script>
</body></html>"""


@dataclass
class Shop:
    bot: str
    allowed: str
    refused: str
    rig: DeskRig
    attributes: str = ""

    @property
    def db(self) -> Database:
        return self.rig.db


@pytest.fixture
async def shop(db: Database) -> AsyncIterator[Shop]:
    """The bot (web chat and agent console) on one port, the shop's page on a second
    (listed for the site key), and another site's page on a third (not listed); all on
    127.0.0.1."""
    channel = WebChatChannel()
    rig = await make_rig(db, channel=channel, clock=WallClock())
    await channel.start(rig.engine.receive)
    state = Shop(bot="", allowed="", refused="", rig=rig)
    links = LinkCodes(db, telegram_username=lambda: "VoltCartBot", slack=True)

    async def page(_: Request) -> Response:
        return HTMLResponse(shop_page(state.bot, state.attributes))

    pages = Starlette(routes=[Route("/", page)])
    async with (
        serve_console(rig, webchat=channel, links=links) as bot,
        serve(pages) as allowed,
        serve(pages) as refused,
    ):
        state.bot = bot.removeprefix("http://")
        state.allowed, state.refused = allowed, refused
        channel.sites = site_map(
            [Site(key=SITE_KEY, origins=(f"http://{allowed}",), secret=SECRET)]
        )
        yield state


async def stored_inbound(db: Database) -> int:
    async with db.transaction() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(Message).where(Message.direction == "in")
            )
            or 0
        )


async def chat(page: Page, text: str) -> None:
    frame = page.frame_locator("#helpdesk-widget iframe")
    await frame.locator("#chat-input").fill(text)
    await frame.locator("#chat-send").click()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_snippet_opens_the_chat_on_the_shops_page(browser: Browser, shop: Shop) -> None:
    shop.attributes = 'data-greeting="Hi! Ask us about your order." data-color="#0b7a53"'
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        await page.goto(f"http://{shop.allowed}/")
        launcher = page.locator("#helpdesk-widget button.helpdesk-launcher")
        await expect(launcher).to_be_visible(timeout=WAIT_MS)
        await expect(launcher).to_have_attribute("aria-expanded", "false")
        # The page's colour reaches the bubble; nothing of the chat loads before it is opened.
        assert await launcher.evaluate("b => getComputedStyle(b).backgroundColor") == (
            "rgb(11, 122, 83)"
        )
        assert await page.locator("#helpdesk-widget iframe").count() == 0
        await page.screenshot(
            path=str(screenshot_dir() / "embed-launcher.png"), animations="disabled"
        )

        await launcher.click()
        frame = page.frame_locator("#helpdesk-widget iframe")
        await expect(frame.locator("#chat-status")).to_have_text("connected", timeout=WAIT_MS)
        await expect(frame.locator(".msg-out").first).to_have_text(
            "Hi! Ask us about your order.", timeout=WAIT_MS
        )
        await chat(page, "Where is my order?")
        await expect(frame.locator(".msg-out").last).to_contain_text(
            KB.entries["order_status"].answers["en"], timeout=WAIT_MS
        )
        await expect(frame.locator(".msg-delivered")).to_have_count(1)
        assert await stored_inbound(shop.db) == 1
        await page.screenshot(path=str(screenshot_dir() / "embed-open.png"), animations="disabled")

        # The frame's close button hides the panel; the bubble opens it again, same chat.
        await frame.locator("#chat-close").click()
        await expect(page.locator("#helpdesk-widget .helpdesk-panel")).to_be_hidden()
        await expect(launcher).to_have_attribute("aria-expanded", "false")
        await launcher.click()
        await expect(frame.locator(".msg-in")).to_have_count(1)
    finally:
        await page.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_on_a_phone_the_chat_takes_the_screen(browser: Browser, shop: Shop) -> None:
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = await context.new_page()
    try:
        await page.goto(f"http://{shop.allowed}/")
        launcher = page.locator("#helpdesk-widget button.helpdesk-launcher")
        await launcher.click()
        frame = page.frame_locator("#helpdesk-widget iframe")
        await expect(frame.locator("#chat-status")).to_have_text("connected", timeout=WAIT_MS)
        panel = await page.locator("#helpdesk-widget .helpdesk-panel").bounding_box()
        assert panel is not None
        assert (panel["x"], panel["y"], panel["width"], panel["height"]) == (0, 0, 390, 844)
        await expect(launcher).to_be_hidden()  # the frame's own close button is the way out
        await chat(page, "hello")
        await expect(frame.locator(".msg-out")).to_have_count(1, timeout=WAIT_MS)
        await page.screenshot(
            path=str(screenshot_dir() / "embed-mobile.png"), animations="disabled"
        )
        await frame.locator("#chat-close").click()
        await expect(launcher).to_be_visible()
    finally:
        await context.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_page_on_another_origin_gets_no_chat(browser: Browser, shop: Shop) -> None:
    page = await browser.new_page()
    try:
        await page.goto(f"http://{shop.refused}/")
        await page.locator("#helpdesk-widget button.helpdesk-launcher").click()

        # The frame: the bot answers, but with frame-ancestors naming the shop only, so
        # Chromium shows its error page instead of the chat.
        await wait_until(
            lambda: any(f.url.startswith("chrome-error:") for f in page.frames),
            within=20,
            what="Chromium refusing the frame",
        )
        assert await page.frame_locator("#helpdesk-widget iframe").locator("#chat-log").count() == 0

        # The socket: the page's own script opening it with the site key is refused at
        # the handshake (it never opens), while the shop's page may open it.
        probe = """([bot, site]) => new Promise((done) => {
            const ws = new WebSocket(`ws://${bot}/ws/chat?session=probe-${Date.now()}&site=${site}`);
            ws.onopen = () => { ws.close(); done("open"); };
            ws.onclose = () => done("refused");
        })"""
        assert await page.evaluate(probe, [shop.bot, SITE_KEY]) == "refused"
        assert await page.evaluate(probe, [shop.bot, "no-such-site"]) == "refused"
        await page.goto(f"http://{shop.allowed}/")
        assert await page.evaluate(probe, [shop.bot, SITE_KEY]) == "open"
        assert await stored_inbound(shop.db) == 0
    finally:
        await page.close()


async def log_in(page: Page, base: str, name: str) -> None:
    await page.goto(f"{base}/console/")
    await page.fill('input[name="name"]', name)
    await page.fill('input[name="password"]', PASSWORD)
    await page.click('button[type="submit"]')
    await expect(page).to_have_url(f"{base}/console/")


async def the_conversation(db: Database) -> int:
    async with db.transaction() as session:
        return int(await session.scalar(select(func.max(Conversation.id))) or 0)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_signed_customer_is_named_to_the_agent_and_a_forged_one_is_not(
    browser: Browser, shop: Shop
) -> None:
    await shop.rig.add_agent("priya", password=PASSWORD)
    token = customer_token(SECRET, sub="cust-1042", name="Asha Patel", email="asha@example.com")
    shop.attributes = f'data-identity-token="{token}"'
    customer = await browser.new_page(viewport={"width": 1280, "height": 800})
    agent = await browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        await customer.goto(f"http://{shop.allowed}/")
        await customer.locator("#helpdesk-widget button.helpdesk-launcher").click()
        frame = customer.frame_locator("#helpdesk-widget iframe")
        await expect(frame.locator("html")).to_have_attribute(
            "data-verified", "true", timeout=WAIT_MS
        )
        # The token left the frame's address (and was never sent in a request line).
        assert "#" not in await frame.locator("html").evaluate("() => location.href")
        # Greeted by name: the shop vouched for it.
        await chat(customer, "hello")
        await expect(frame.locator(".msg-out").first).to_contain_text(
            "Hello, Asha Patel!", timeout=WAIT_MS
        )
        verified = await the_conversation(shop.db)

        await log_in(agent, f"http://{shop.bot}", "priya")
        await agent.goto(f"http://{shop.bot}/console/c/{verified}")
        await expect(agent.locator("h1")).to_contain_text("Asha Patel")
        await expect(agent.locator("h1 .identity-verified")).to_have_text("verified")
        side = agent.locator("#customer-side")
        await expect(side).to_contain_text("asha@example.com")
        await expect(side.locator(".customer-verified")).to_have_text("verified by the shop")
        await agent.screenshot(
            path=str(screenshot_dir() / "console-customer-verified.png"), animations="disabled"
        )
        # The agent's reply reaches the widget under the agent's name.
        await agent.click("#claim")
        await expect(agent.locator("#conv-state")).to_have_text("agent", timeout=WAIT_MS)
        await agent.fill("#reply-text", "Hi Asha, Priya here. Let me check your order.")
        await agent.click("#reply-send")
        reply = frame.locator(".row-out").last
        await expect(reply.locator(".msg-sender")).to_have_text("priya", timeout=WAIT_MS)
        await expect(reply).to_contain_text("Priya here")
        await customer.screenshot(
            path=str(screenshot_dir() / "embed-agent-reply.png"), animations="disabled"
        )
        # And after a reload, from the stored history.
        await customer.reload()
        await customer.locator("#helpdesk-widget button.helpdesk-launcher").click()
        await expect(frame.locator(".row-out").last.locator(".msg-sender")).to_have_text(
            "priya", timeout=WAIT_MS
        )

        # A token signed with another secret: refused, the chat goes on unverified, and
        # the name in it never reaches the agent as the customer's.
        forged = customer_token(b"guessed secret", sub="cust-1042", name="Asha Patel")
        shop.attributes = f'data-identity-token="{forged}"'
        other = await browser.new_page()
        try:
            await other.goto(f"http://{shop.allowed}/")
            await other.locator("#helpdesk-widget button.helpdesk-launcher").click()
            forged_frame = other.frame_locator("#helpdesk-widget iframe")
            await expect(forged_frame.locator(".notice")).to_contain_text(
                Catalogue.load().get("identity_refused", "en"), timeout=WAIT_MS
            )
            await chat(other, "where is my order")
            await expect(forged_frame.locator(".msg-out")).to_have_count(1, timeout=WAIT_MS)
        finally:
            await other.close()
        unverified = await the_conversation(shop.db)
        assert unverified != verified
        await agent.goto(f"http://{shop.bot}/console/c/{unverified}")
        await expect(agent.locator("h1 .identity-unverified")).to_have_text("unverified")
        await expect(agent.locator("h1")).not_to_contain_text("Asha")
    finally:
        await customer.close()
        await agent.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_signed_customer_can_continue_on_telegram_or_slack(
    browser: Browser, shop: Shop
) -> None:
    token = customer_token(SECRET, sub="cust-7", name="Asha Patel", locale="hi")
    shop.attributes = f'data-identity-token="{token}"'
    catalogue = Catalogue.load()
    customer = await browser.new_page(viewport={"width": 390, "height": 760})
    try:
        await customer.goto(f"http://{shop.allowed}/")
        await customer.locator("#helpdesk-widget button.helpdesk-launcher").click()
        frame = customer.frame_locator("#helpdesk-widget iframe")
        offers = frame.locator(".chat-links .link-offer")
        await expect(offers).to_have_text(
            [
                catalogue.get("link_continue_telegram", "hi"),
                catalogue.get("link_continue_slack", "hi"),
            ],
            timeout=WAIT_MS,
        )
        await offers.first.click()
        link = frame.locator(".link-notice a.link-open")
        await expect(link).to_have_attribute("target", "_blank", timeout=WAIT_MS)
        href = str(await link.get_attribute("href"))
        assert href.startswith("https://t.me/VoltCartBot?start=")
        assert looks_like_code(href.rsplit("=", 1)[1])
        await offers.nth(1).click()
        await expect(frame.locator(".link-notice").last).to_contain_text("link ", timeout=WAIT_MS)
        await customer.screenshot(
            path=str(screenshot_dir() / "embed-continue-on-telegram.png"), animations="disabled"
        )
    finally:
        await customer.close()
    # An anonymous visitor is offered nothing.
    shop.attributes = ""
    visitor = await browser.new_page()
    try:
        await visitor.goto(f"http://{shop.allowed}/")
        await visitor.locator("#helpdesk-widget button.helpdesk-launcher").click()
        frame = visitor.frame_locator("#helpdesk-widget iframe")
        await chat(visitor, "hello")
        await expect(frame.locator(".msg-out").first).to_be_visible(timeout=WAIT_MS)
        await expect(frame.locator(".chat-links")).to_have_count(0)
    finally:
        await visitor.close()
