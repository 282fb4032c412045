"""The dashboard's survey section in a real Chromium: CES and NPS tiles, the distribution,
the slices and the low scores with their comments, from seeded answers; no script errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from bot.storage.database import Database
from tests.conftest import IN_CI
from tests.reports.test_survey_numbers import seed
from tests.support.console import PASSWORD
from tests.support.desk import make_rig
from tests.support.screenshots import screenshot_dir
from tests.web.test_admin_browser import CHROMIUM, CHROMIUM_ARGS
from tests.web.test_admin_console import serve_admin


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_survey_numbers_render_in_chromium(db: Database) -> None:
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail("Debian's chromium is not installed")
        pytest.skip("chromium not installed")
    await seed(db)
    rig = await make_rig(db)
    await rig.add_agent("ada", role="admin", password=PASSWORD)
    errors: list[str] = []
    async with serve_admin(rig) as (base, _), async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1200, "height": 1100})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"{base}/console/login")
            await page.fill('input[name="name"]', "ada")
            await page.fill('input[name="password"]', PASSWORD)
            await page.click('button[type="submit"]')
            await page.goto(f"{base}/console/admin?days=7")
            await expect(page.locator('[data-metric="ces-average"]')).to_have_text("4.5")
            await expect(page.locator('[data-metric="nps"]')).to_have_text("+0")
            await expect(page.locator('[data-metric="csat-average"]')).to_have_text("3.0")
            await expect(page.locator("#survey-slices")).to_contain_text("agent: priya")
            await expect(page.locator("#survey-slices")).to_contain_text("intent: faq/refunds")
            low = page.locator("#low-scores tbody tr")
            await expect(low).to_have_count(3)
            await expect(page.locator("#low-scores")).to_contain_text("Delivery is always late")
            link = page.locator("#low-scores a").first
            assert (await link.get_attribute("href") or "").startswith("/console/c/")
            await expect(page.locator("#surveys")).to_be_visible()
            shot = screenshot_dir() / "dashboard-surveys.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            await page.locator("#surveys").scroll_into_view_if_needed()
            await page.screenshot(path=str(shot), full_page=True)
        finally:
            await browser.close()
    assert errors == [], errors
