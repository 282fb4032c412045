"""A survey in the web chat, in a real Chromium: the customer thanks the bot after an
answer, presses a CES button, and writes the comment; counted once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect
from sqlalchemy import select

from bot.channels.webchat import WebChatChannel
from bot.storage.database import Database
from bot.storage.models import SurveyRequest, SurveyResponse
from bot.surveys.plan import SurveyPlan
from tests.support.console import serve_console
from tests.support.desk import SCRIPT, make_rig
from tests.web.test_admin_browser import CHROMIUM, CHROMIUM_ARGS


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_ces_in_the_web_chat_in_chromium(db: Database) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium not installed")
    webchat = WebChatChannel()
    rig = await make_rig(db, channel=webchat)
    rig.nlu.script = {**SCRIPT, "thanks": "thanks"}
    rig.engine.options = dataclasses.replace(rig.engine.options, surveys=SurveyPlan.default())
    errors: list[str] = []
    async with serve_console(rig, webchat=webchat) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 420, "height": 760})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"{base}/")
            await expect(page.locator("#chat-status")).to_have_text("connected")

            async def say(text: str) -> None:
                await page.fill("#chat-input", text)
                await page.click("#chat-send")

            await say("where is my order")
            await expect(page.locator(".msg-out")).to_have_count(1)
            await say("thanks")
            question = page.locator(".msg-out").last
            await expect(question).to_contain_text("How easy was it to get your issue solved?")
            buttons = question.locator("button.msg-button")
            await expect(buttons).to_have_count(7)
            await buttons.nth(1).click()  # 2: hard
            await expect(page.locator(".msg-out").last).to_contain_text("What could we do better?")
            await say("The tracking link was hard to find")
            await expect(page.locator(".msg-out").last).to_contain_text("the team will read it")
        finally:
            await browser.close()
    assert errors == [], errors
    async with db.transaction() as session:
        [request] = await session.scalars(select(SurveyRequest))
        answers = [(r.score, r.comment) for r in await session.scalars(select(SurveyResponse))]
    assert (request.kind, request.channel) == ("ces", "webchat")
    assert answers == [(2, "The tracking link was hard to find")]
