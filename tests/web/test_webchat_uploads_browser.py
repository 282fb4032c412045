"""A photo through the widget's paperclip in a real Chromium, seen by the agent's console.

The customer picks a PNG in the widget: it is uploaded, sent, acknowledged, answered by
the bot; a page disguised as a picture is refused in the customer's language. The
agent, logged in to the console, opens the conversation and sees the photo drawn (the
browser decoded what the console served). Screenshots: build/screenshots/ (docs/img/
with HELPDESK_DOCS_SCREENSHOTS=1).
"""

from __future__ import annotations

from base64 import b64encode
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select

from bot.channels.image_metadata import strip_metadata
from bot.channels.webchat import WebChatChannel
from bot.i18n import Catalogue
from bot.storage.database import Database
from bot.storage.models import Conversation
from bot.tickets.business_hours import BusinessHours
from tests.channels.test_widget_browser import browser
from tests.support import files
from tests.support.console import PASSWORD, serve_console
from tests.support.desk import WallClock, make_rig, test_policy
from tests.support.screenshots import screenshot_dir

__all__ = ["browser"]  # the session's Chromium, shared with the widget's own tests
CATALOGUE = Catalogue.load(default_language="en")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_customer_sends_a_photo_and_the_agent_sees_it(
    browser: Browser, db: Database, tmp_path: Path
) -> None:
    shots = screenshot_dir()
    rig = await make_rig(
        db,
        channel=WebChatChannel(),
        clock=WallClock(),
        policy=test_policy(hours=BusinessHours.always()),
    )
    await rig.add_agent("priya", password=PASSWORD)
    photo = tmp_path / "broken-charger.png"
    photo.write_bytes(files.png(48, 32))
    fake = tmp_path / "cat.png"
    fake.write_bytes(files.HTML_AS_PNG)
    async with serve_console(rig, webchat=rig.channel) as base:
        customer = await browser.new_page(locale="en-US", viewport={"width": 420, "height": 760})
        agent = await browser.new_page(viewport={"width": 1280, "height": 800})
        try:
            await customer.goto(f"{base}/")
            await expect(customer.locator("#chat-status")).to_have_text("connected")

            await customer.set_input_files("#chat-file", str(fake))
            await expect(customer.locator(".upload-refused")).to_have_text(
                CATALOGUE.get("upload_type", "en")
            )

            await customer.fill("#chat-input", "charger")
            await customer.set_input_files("#chat-file", str(photo))
            sent = customer.locator(".msg-in").last
            await expect(sent.locator(".msg-file")).to_have_text("broken-charger.png")
            await expect(sent.locator(".msg-caption")).to_have_text("charger")
            await expect(sent).to_have_class("msg msg-in msg-delivered")
            await expect(customer.locator("#chat-input")).to_have_value("")
            await expect(customer.locator(".msg-out")).to_have_count(1)
            await customer.screenshot(
                path=str(shots / "webchat-attachment.png"), animations="disabled"
            )

            # A reload shows the file by name from the stored history.
            await customer.reload()
            await expect(customer.locator("#chat-status")).to_have_text("connected")
            await expect(customer.locator(".msg-in .msg-file")).to_have_text(["broken-charger.png"])

            async with db.transaction() as session:
                conversation = (await session.scalars(select(Conversation))).one()
            await agent.goto(f"{base}/console/login")
            await agent.fill('input[name="name"]', "priya")
            await agent.fill('input[name="password"]', PASSWORD)
            await agent.click('button[type="submit"]')
            await expect(agent).to_have_url(f"{base}/console/")
            await agent.goto(f"{base}/console/c/{conversation.id}")
            image = agent.locator(".msg-in .file-image img")
            await expect(image).to_have_count(1)
            await expect(image).to_have_attribute("alt", "broken-charger.png")
            # Drawn: the console served real image bytes the browser could decode.
            drawn = await image.evaluate(
                "img => img.complete ? img.naturalWidth : new Promise(done => {"
                " img.addEventListener('load', () => done(img.naturalWidth));"
                " img.addEventListener('error', () => done(-1)); })"
            )
            assert drawn == 48
            await agent.screenshot(
                path=str(shots / "console-attachment.png"), animations="disabled"
            )
        finally:
            await customer.close()
            await agent.close()


async def test_chromium_draws_a_webp_kept_without_its_metadata(browser: Browser) -> None:
    """The rewritten container (chunks dropped, VP8X flags and RIFF size changed) is still
    a picture a browser decodes."""
    stripped = strip_metadata(files.webp_with_exif(orientation=6), "image/webp")
    assert files.GPS_MARK not in stripped
    page = await browser.new_page()
    try:
        size = await page.evaluate(
            """async (url) => {
                const image = new Image();
                image.src = url;
                try { await image.decode(); } catch (e) { return "not decoded: " + e; }
                return [image.naturalWidth, image.naturalHeight];
            }""",
            "data:image/webp;base64," + b64encode(stripped).decode(),
        )
    finally:
        await page.close()
    assert size == [1, 1]
