"""The console's knowledge-base page: every entry with its languages, what is missing,
where it is (file:line), searchable; over HTTP and in a real Chromium."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from bot.knowledge.coverage import coverage
from bot.knowledge.loader import load_knowledge_base
from bot.storage.database import Database
from tests.conftest import IN_CI
from tests.support.console import PASSWORD
from tests.support.desk import make_rig
from tests.support.screenshots import screenshot_dir
from tests.web.test_admin_browser import CHROMIUM, CHROMIUM_ARGS
from tests.web.test_admin_console import logged_in, serve_admin

LANGUAGES = ("en", "hi", "gu")

ORDERS = """\
# Orders and shipping.
faqs:
  - id: refund_time
    tags: [returns]
    questions:
      en:
        - When do I get my refund?
        - how long does a refund take
      hi:
        - रिफंड कब मिलेगा?
    answer:
      en: Refunds reach your account within 5-7 business days.
      hi: रिफंड 5-7 कामकाजी दिनों में आपके खाते में आता है।

  - id: shipping_cost
    questions:
      en:
        - How much is shipping?
      hi:
        - शिपिंग कितने की है?
    answer:
      en: Shipping is free above ₹499.
"""

GIFTS = """\
faqs:
  - id: gift_cards
    questions:
      en:
        - Do you sell gift cards?
      fr:
        - Vendez-vous des cartes cadeaux ?
    answer:
      en: Gift cards from ₹500 on our website.
"""


def write_kb(directory: Path) -> Path:
    directory.mkdir()
    (directory / "orders.yml").write_text(ORDERS, encoding="utf-8")
    (directory / "gifts.yml").write_text(GIFTS, encoding="utf-8")
    return directory


def test_coverage_lists_languages_missing_ones_and_lines(tmp_path: Path) -> None:
    kb_dir = write_kb(tmp_path / "kb")
    kb = load_knowledge_base(kb_dir)
    listing = coverage(kb, languages=LANGUAGES, directory=kb_dir)
    # Configured languages first, then what the files use besides (fr).
    assert listing.languages == ("en", "hi", "gu", "fr")
    # Sorted by file, then line: the "- id:" line of each entry.
    assert [(e.id, e.where) for e in listing.entries] == [
        ("gift_cards", "gifts.yml:2"),
        ("refund_time", "orders.yml:3"),
        ("shipping_cost", "orders.yml:15"),
    ]
    by_id = {e.id: e for e in listing.entries}
    assert by_id["refund_time"].missing == ("gu", "fr")
    assert by_id["shipping_cost"].missing == ("hi", "gu", "fr")  # hi: questions, no answer
    hi = by_id["shipping_cost"].cells[1]
    assert hi.questions == ("शिपिंग कितने की है?",) and hi.answer is None
    assert [(t.language, t.answered, t.with_questions, t.questions) for t in listing.totals] == [
        ("en", 3, 3, 4),
        ("hi", 1, 2, 2),
        ("gu", 0, 0, 0),
        ("fr", 0, 1, 1),
    ]
    # Search: id, tag, question or answer text, any case; and "missing in".
    search = coverage(kb, languages=LANGUAGES, directory=kb_dir, query="REFUND")
    assert [e.id for e in search.entries] == ["refund_time"] and search.total == 3
    assert [
        e.id for e in coverage(kb, languages=LANGUAGES, directory=kb_dir, query="₹").entries
    ] == ["gift_cards", "shipping_cost"]
    assert [
        e.id for e in coverage(kb, languages=LANGUAGES, directory=kb_dir, query="returns").entries
    ] == ["refund_time"]
    assert [
        e.id for e in coverage(kb, languages=LANGUAGES, directory=kb_dir, query="कितने").entries
    ] == ["shipping_cost"]
    missing_hi = coverage(kb, languages=LANGUAGES, directory=kb_dir, missing="hi")
    assert [e.id for e in missing_hi.entries] == ["gift_cards", "shipping_cost"]
    assert [t.answered for t in missing_hi.totals] == [2, 0, 0, 0]


def rows(page: str) -> list[str]:
    return re.findall(r'<tr class="kb-entry" data-faq-id="([a-z_]+)">', page)


def cell(page: str, faq_id: str, language: str) -> str:
    row = page.split(f'data-faq-id="{faq_id}"', 1)[1].split("</tr>", 1)[0]
    found = re.search(rf'<td class="lang (\w+)" data-lang="{language}">(.*?)</td>', row, re.S)
    assert found, row
    return f"{found.group(1)}: {' '.join(re.sub(r'<[^>]+>', ' ', found.group(2)).split())}"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_kb_page_lists_entries_by_language_and_searches(db: Database, tmp_path: Path) -> None:
    kb_dir = write_kb(tmp_path / "kb")
    rig = await make_rig(db)
    await rig.add_agent("ada", role="admin", password=PASSWORD)
    async with serve_admin(rig, kb_dir, languages=LANGUAGES) as (base, pages):
        admin = await logged_in(base, "ada")
        try:
            full = (await admin.http.get("/console/admin/kb")).text
            found = (await admin.http.get("/console/admin/kb", params={"q": "refund"})).text
            missing = (await admin.http.get("/console/admin/kb", params={"missing": "hi"})).text
            hostile = (await admin.http.get("/console/admin/kb", params={"q": "<b>x"})).text
            pages.kb_source_url = "https://git.example.com/kb/blob/main/{file}#L{line}"
            linked = (await admin.http.get("/console/admin/kb")).text
        finally:
            await admin.close()
    assert rows(full) == ["gift_cards", "refund_time", "shipping_cost"]
    assert "3 of 3 entries" in full
    assert re.findall(r'<th scope="col" data-lang="(\w+)">', full) == ["en", "hi", "gu", "fr"]
    assert 'fr <small class="hint">not in bot.languages</small>' in full
    assert cell(full, "refund_time", "en") == "complete: 2 questions answer ✓"
    assert cell(full, "refund_time", "gu") == "missing: no questions no answer"
    assert cell(full, "shipping_cost", "hi") == "missing: 1 question no answer"
    # Where each entry is, and its texts (escaped, under "Questions and answers").
    assert "<code" in full and ">orders.yml:15</code>" in full and ">gifts.yml:2</code>" in full
    assert html.escape("Refunds reach your account within 5-7 business days.") in full
    assert "शिपिंग कितने की है?" in full
    # The summary row: per language, entries with an answer and questions.
    totals = full.split('<tr class="kb-totals">', 1)[1].split("</tr>", 1)[0]
    assert "All 3 entries" in totals
    texts = [" ".join(re.sub(r"<[^>]+>", " ", t).split()) for t in totals.split("<td")[1:]]
    assert texts == [
        'data-lang="en"> 3 with an answer 4 questions in 3',
        'data-lang="hi"> 1 with an answer 2 questions in 2',
        'data-lang="gu"> 0 with an answer 0 questions in 0',
        'data-lang="fr"> 0 with an answer 1 question in 1',
    ]
    assert rows(found) == ["refund_time"] and "1 of 3 entries matching “refund”" in found
    assert 'value="refund"' in found
    assert rows(missing) == ["gift_cards", "shipping_cost"]
    assert '<option value="hi" selected>' in missing
    assert rows(hostile) == [] and "<b>x" not in hostile and "&lt;b&gt;x" in hostile
    # With admin.kb_source_url each entry links to its file and line in the repository.
    assert "<a href" not in full.split('id="kb-entries"', 1)[1]
    assert (
        '<a href="https://git.example.com/kb/blob/main/orders.yml#L15" rel="noopener noreferrer"'
        in linked
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_kb_search_in_chromium(db: Database, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        if IN_CI:
            pytest.fail("Debian's chromium is not installed")
        pytest.skip("chromium not installed")
    kb_dir = write_kb(tmp_path / "kb")
    rig = await make_rig(db)
    await rig.add_agent("ada", role="admin", password=PASSWORD)
    errors: list[str] = []
    async with serve_admin(rig, kb_dir, languages=LANGUAGES) as (base, _), async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1200, "height": 900})
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
            await page.click("text=Admin")
            await page.click(".admin-nav >> text=Knowledge base")
            entries = page.locator("tr.kb-entry")
            await expect(entries).to_have_count(3)
            await page.locator("#kb-entries").screenshot(path=str(screenshot_dir() / "kb.png"))
            # Search for a Hindi question: the list narrows to its entry.
            await page.fill('input[name="q"]', "शिपिंग")
            await page.press('input[name="q"]', "Enter")
            await expect(entries).to_have_count(1)
            await expect(entries.first).to_have_attribute("data-faq-id", "shipping_cost")
            await expect(page.locator("#kb-count")).to_contain_text("1 of 3 entries")
            # Hindi has a question but no answer: marked missing, and visibly so.
            hindi = entries.first.locator('td[data-lang="hi"]')
            await expect(hindi).to_have_class(re.compile(r"\bmissing\b"))
            await expect(hindi.locator(".missing-marker")).to_have_text("no answer")
            await expect(hindi.locator(".missing-marker")).to_be_visible()
            # The texts are open after a search; the file and line are shown.
            await expect(entries.first.locator("details dd").first).to_be_visible()
            await expect(entries.first.locator(".where")).to_have_text("orders.yml:15")
            # "Show all" clears the search; "missing in hi" lists the two without a Hindi answer.
            await page.click("text=Show all")
            await expect(entries).to_have_count(3)
            await page.select_option('select[name="missing"]', "hi")
            await page.click('.kb-search button[type="submit"]')
            await expect(entries).to_have_count(2)
        finally:
            await browser.close()
    assert errors == [], errors
