"""The widget shows a reply once, even when the server sends it again after a crash."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import update

from bot.engine.pipeline import Engine
from bot.knowledge.loader import load_knowledge_base
from bot.storage.models import Delivery, Direction, Message
from tests.channels.test_widget_browser import browser, send
from tests.conftest import TEST_KB

pytestmark = pytest.mark.rasa

KB = load_knowledge_base(TEST_KB)
__all__ = ["browser"]  # the session's Chromium, shared with the widget's own tests


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_reply_sent_again_is_shown_once(browser: Browser, web: tuple[str, Engine]) -> None:
    address, engine = web
    page = await browser.new_page(locale="en-US")
    try:
        await page.goto(f"http://{address}/")
        await expect(page.locator("#chat-status")).to_have_text("connected")
        await send(page, "where is my order")
        bot = page.locator(".msg-out")
        await expect(bot.last).to_contain_text(KB.entries["order_status"].answers["en"])
        # A crash between the browser getting the reply and the row being marked sent:
        # the outbox sends it again, with the same id.
        async with engine.db.transaction() as session:
            await session.execute(
                update(Message)
                .where(Message.direction == Direction.OUT)
                .values(delivery=Delivery.PENDING)
            )
        assert await engine.flush_outbox() == 1
        await send(page, "how do I reset my password")
        await expect(bot.last).to_contain_text(KB.entries["reset_password"].answers["en"])
        await expect(bot).to_have_count(2)  # the resent reply arrived in between, dropped
    finally:
        await page.close()
