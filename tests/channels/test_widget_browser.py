"""The web chat widget in a real Chromium: type, read the answer, press a button."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from bot.engine.pipeline import Engine
from bot.knowledge.loader import load_knowledge_base
from tests.conftest import IN_CI, TEST_KB

pytestmark = pytest.mark.rasa

KB = load_knowledge_base(TEST_KB)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags for a closed network: no background connections, no update checks.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if shutil.which("chromium") is None:
        if IN_CI:
            pytest.fail("Debian's chromium is not installed (make test installs it)")
        pytest.skip("chromium not installed: apt-get install chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def send(page: Page, text: str) -> None:
    await page.fill("#chat-input", text)
    await page.click("#chat-send")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_widget_chats_and_renders_buttons(browser: Browser, web: tuple[str, Engine]) -> None:
    address, _ = web
    page = await browser.new_page(locale="gu-IN")
    try:
        await page.goto(f"http://{address}/")
        await expect(page.locator("#chat-status")).to_have_text("connected")

        await send(page, "મારો ઓર્ડર ક્યાં છે?")
        bot = page.locator(".msg-out")
        await expect(bot.last).to_contain_text(KB.entries["order_status"].answers["gu"])

        await send(page, "blorp zzz qqq")
        # Declined as out of scope: three topics of the knowledge base and a person.
        buttons = page.locator(".msg-out").last.locator("button.msg-button")
        await expect(buttons).to_have_count(4)
        title = await buttons.first.inner_text()
        await buttons.first.click()
        await expect(page.locator(".msg-in").last).to_contain_text(title)
        await expect(bot).to_have_count(3)
        # The guess's answer, in Gujarati where the entry has one (some are English-only).
        answers = {text for e in KB for lang, text in e.answers.items() if lang in ("gu", "en")}
        assert (await bot.last.inner_text()).strip() in answers

        # A reload continues the same conversation from the stored history.
        await page.reload()
        await expect(page.locator("#chat-status")).to_have_text("connected")
        await expect(page.locator(".msg-in")).to_have_count(3)
        await page.screenshot(path=".cache/widget.png")
    finally:
        await page.close()
