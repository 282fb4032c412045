"""The numbers dashboard in a real Chromium: it renders, the charts draw, no script errors.

The screenshot docs/img/dashboard.png (README's "Admins" section) comes from here
(HELPDESK_DOCS_SCREENSHOTS=1; otherwise it goes to build/screenshots/).
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from bot.storage.database import Database
from tests.conftest import IN_CI
from tests.support.admin_history import T0, History, build_history
from tests.support.console import PASSWORD
from tests.support.desk import make_rig
from tests.support.screenshots import screenshot_dir
from tests.web.test_admin_console import serve_admin

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOT = screenshot_dir() / "dashboard.png"


async def more_days(db: Database) -> None:
    """A few more days of answered questions, so the daily chart has a shape."""
    async with db.transaction() as session:
        h = History(session)
        for day in range(1, 6):
            for n in range(day + 2):
                at = T0 + timedelta(days=day, minutes=n)
                conv = await h.conversation(f"d{day}-{n}", "webchat", "hi" if n % 3 else "en", at)
                faq = "order_status" if n % 2 else "return_policy"
                await h.msg(conv, at, inbound=True, intent=f"faq/{faq}", confidence=0.9)
                await h.msg(conv, at + timedelta(seconds=2), inbound=False)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_dashboard_renders_in_chromium(db: Database) -> None:
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail("Debian's chromium is not installed")
        pytest.skip("chromium not installed")
    await build_history(db)
    await more_days(db)
    rig = await make_rig(db)
    await rig.add_agent("ada", role="admin", password=PASSWORD)
    errors: list[str] = []
    async with serve_admin(rig) as (base, _), async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1200, "height": 1100})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "response",
                lambda r: (
                    errors.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/favicon.ico")
                    else None
                ),
            )
            await page.goto(f"{base}/console/login")
            await page.fill('input[name="name"]', "ada")
            await page.fill('input[name="password"]', PASSWORD)
            await page.click('button[type="submit"]')
            await page.goto(f"{base}/console/admin?start=2026-11-01&end=2026-11-07")
            # 7 hand-made conversations + 3+4+5+6+7 = 25 more; 2 + 25 deflected.
            await expect(page.locator('[data-metric="conversations"]')).to_have_text("32")
            await expect(page.locator('[data-metric="deflection"]')).to_have_text("84%")
            charts = page.locator("svg.chart")
            await expect(charts).to_have_count(4)
            bars = page.locator("svg.chart").first.locator("rect")
            assert await bars.count() == 12  # 6 days x (all, deflected)
            box = await charts.first.bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 100
            await expect(page.locator("#per-faq")).to_contain_text("return_policy")
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            await browser.close()
    assert errors == [], errors
