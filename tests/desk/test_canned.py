"""Saved replies: the file's checks, filling in, the console's list for a chat, and
``!id`` in a Slack desk thread."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bot.desk.canned import CannedError, CannedReplies
from bot.handoff import State
from bot.storage.database import Database
from tests.conftest import ROOT
from tests.desk.test_slack_desk import BOB, SlackDeskRig, desk  # noqa: F401
from tests.support.console import PASSWORD, AgentClient, make_console
from tests.support.desk import make_rig
from tests.support.server import serve
from tests.support.waiting import wait_until
from tests.web.test_admin_console import logged_in

LIBRARY = {
    "replies": [
        {
            "id": "refund_timing",
            "title": "Refund timing",
            "text": {
                "en": "Hi {customer_name}, refunds take 5-7 days. — {agent_name}",
                "hi": "नमस्ते {customer_name}, रिफंड 5-7 दिन में आता है। — {agent_name}",
            },
        },
        {
            "id": "ticket_update",
            "title": "Ticket update",
            "text": {"en": "Thanks, {customer_name}. {ticket_reference} is with our team."},
        },
    ]
}


def test_placeholders_language_and_fallbacks() -> None:
    canned = CannedReplies.parse(LIBRARY)
    assert canned.render("refund_timing", "hi", customer_name="Asha", agent_name="maya") == (
        "नमस्ते Asha, रिफंड 5-7 दिन में आता है। — maya"
    )
    assert canned.render("refund_timing", "ka", customer_name="Nino", agent_name="maya") == (
        "Hi Nino, refunds take 5-7 days. — maya"  # no Georgian text: the default language
    )
    # A placeholder the chat does not have is left out, with its comma.
    assert canned.render("ticket_update", "en", ticket_reference="HD-1001") == (
        "Thanks. HD-1001 is with our team."
    )
    assert canned.render("nope", "en") is None


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ({"id": "Bad Id", "text": {"en": "x"}}, "lower-case"),
        ({"id": "a", "text": {"hi": "x"}}, "default language 'en'"),
        (
            {"id": "a", "text": {"en": "Hi {customer_email}"}},
            "unknown placeholder {customer_email}",
        ),
        ({"id": "a", "text": "just text"}, "'text' must map"),
    ],
)
def test_a_bad_reply_is_refused_naming_it(reply: dict[str, object], problem: str) -> None:
    with pytest.raises(CannedError, match=problem):
        CannedReplies.parse({"replies": [reply]})
    with pytest.raises(CannedError, match="used twice"):
        CannedReplies.parse({"replies": [LIBRARY["replies"][0], LIBRARY["replies"][0]]})


def test_the_shipped_library_is_valid_in_every_language(tmp_path: Path) -> None:
    canned = CannedReplies.load(ROOT / "canned_replies.yml")
    assert canned.replies
    for reply in canned.replies.values():
        assert set(reply.texts) == {"en", "gu", "te", "ka", "hi"}, reply.id
    assert CannedReplies.load(tmp_path / "missing.yml").replies == {}


async def test_the_console_lists_the_replies_filled_in_for_the_chat(db: Database) -> None:
    rig = await make_rig(db)
    rig.desk.canned = CannedReplies.parse(LIBRARY)
    maya = await rig.add_agent("maya", password=PASSWORD)
    await rig.push("/human")
    conversation = await rig.conversation()
    await rig.desk.claim(maya, conversation.id)
    console = make_console(rig)

    async def readiness() -> dict[str, object]:
        return {"ready": True}

    from bot.web.app import create_web_app

    app = create_web_app(engine=rig.engine, webchat=None, readiness=readiness, console=console)
    async with serve(app) as address:
        base = f"http://{address}"
        anonymous = await httpx.AsyncClient(base_url=base).get(
            f"/console/c/{conversation.id}/canned"
        )
        assert anonymous.status_code == 401
        client: AgentClient = await logged_in(base, "maya")
        response = await client.http.get(f"/console/c/{conversation.id}/canned")
        assert response.status_code == 200
        assert response.json()[0] == {
            "id": "refund_timing",
            "title": "Refund timing",
            "text": "Hi Alice, refunds take 5-7 days. — maya",
        }
        missing = await client.http.get("/console/c/999999/canned")
        assert missing.status_code == 404
        await client.close()


async def test_bang_id_in_a_slack_thread_sends_the_saved_reply(desk: SlackDeskRig) -> None:  # noqa: F811
    desk.rig.desk.canned = CannedReplies.parse(LIBRARY)
    conversation_id, ts = await desk.hand_off()
    await desk.press(ts, "claim", user=BOB)
    await desk.card_update(ts, "bob")
    assert await desk.state(conversation_id) == (State.AGENT, desk.bob)
    before = len(desk.rig.sent())
    await desk.reply_in_thread(ts, "!nope", user=BOB)
    told = await desk.told(BOB, "No saved reply !nope")
    assert "!refund_timing" in told.args["text"]
    await desk.reply_in_thread(ts, "!refund_timing", user=BOB)
    await wait_until(lambda: len(desk.rig.sent()) > before, within=10, what="the saved reply")
    sent = desk.rig.sent()[-1]
    assert (sent.text, sent.sender) == ("Hi Alice, refunds take 5-7 days. — bob", "agent")
    assert len(desk.rig.sent()) == before + 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_slash_id_and_tab_fill_the_reply_box_in_chromium(db: Database) -> None:
    from playwright.async_api import async_playwright, expect

    from bot.web.app import create_web_app
    from tests.web.test_admin_browser import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.skip("chromium not installed")
    rig = await make_rig(db)
    rig.desk.canned = CannedReplies.parse(LIBRARY)
    maya = await rig.add_agent("maya", password=PASSWORD)
    await rig.push("/human")
    conversation = await rig.conversation()
    await rig.desk.claim(maya, conversation.id)
    console = make_console(rig)

    async def readiness() -> dict[str, object]:
        return {"ready": True}

    app = create_web_app(engine=rig.engine, webchat=None, readiness=readiness, console=console)
    errors: list[str] = []
    async with serve(app) as address, async_playwright() as playwright:
        base = f"http://{address}"
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"{base}/console/login")
            await page.fill('input[name="name"]', "maya")
            await page.fill('input[name="password"]', PASSWORD)
            await page.click('button[type="submit"]')
            await page.goto(f"{base}/console/c/{conversation.id}")
            box = page.locator("#reply-text")
            await box.fill("/ref")
            await box.press("Tab")
            await expect(box).to_have_value("Hi Alice, refunds take 5-7 days. — maya")
            await expect(box).to_be_focused()  # Tab filled the box, it did not move focus
            await box.press("Control+Enter")
            await expect(box).to_have_value("")
            await wait_until(
                lambda: rig.sent()[-1].text.startswith("Hi Alice, refunds"),
                within=10,
                what="the saved reply sent",
            )
            await box.fill("/zzz")
            await box.press("Tab")
            await expect(box).to_have_value("/zzz")  # no such reply: nothing replaced
            await expect(page.locator("#flash-live")).to_contain_text(
                "Saved replies: /refund_timing (Refund timing), /ticket_update"
            )
        finally:
            await browser.close()
    assert errors == [], errors
