"""Prometheus metrics at /metrics: messages, latency, NLU decisions, queue length, errors."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from bot.knowledge.loader import LiveKnowledgeBase
from bot.nlu.client import IntentScore, NluUnavailable, ParseResult
from bot.nlu.decision import Thresholds
from bot.nlu.kb_watch import KnowledgeWatcher
from bot.reports.metrics import (
    NLU_DECISIONS,
    KbWatchCounters,
    MeteredNlu,
    install_error_counter,
    metered_receive,
    metrics_route,
)
from bot.storage.database import Database
from tests.conftest import TEST_KB
from tests.support.desk import DeskRig, ScriptedNlu, make_rig
from tests.support.server import serve


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus' text format (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" (\S+)"
    match = re.search(rf"^{pattern}$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def scrape(db: Database) -> str:
    app = Starlette(routes=[metrics_route(db)])
    async with serve(app) as address, httpx.AsyncClient() as http:
        response = await http.get(f"http://{address}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


@pytest.fixture
async def rig(db: Database) -> DeskRig:
    rig = await make_rig(db)
    await rig.add_agent("priya")  # online: a request for a person queues (no ticket)
    rig.engine.nlu = MeteredNlu(ScriptedNlu(), thresholds=Thresholds(confidence=0.55))
    # As Helpdesk.start wires channels: every turn counted and timed.
    await rig.channel.start(metered_receive(rig.engine.receive))
    return rig


async def test_messages_latency_decisions_and_queue_length(rig: DeskRig) -> None:
    before = await scrape(rig.db)
    await rig.channel.push("where is my order")
    await rig.channel.push("hello")
    await rig.channel.push("something the bot does not know")
    await rig.channel.push("i want to talk to a person", user="bob")
    after = await scrape(rig.db)

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("helpdesk_messages_total", channel="fake", direction="in") == 4
    assert delta("helpdesk_messages_total", channel="fake", direction="out") >= 4
    assert delta("helpdesk_turn_seconds_count", channel="fake") == 4
    assert delta("helpdesk_nlu_decisions_total", decision="faq") == 1
    assert delta("helpdesk_nlu_decisions_total", decision="intent") == 2
    # ScriptedNlu's out_of_scope at 0.45 is unsure, below the decline threshold (0.5).
    assert delta("helpdesk_nlu_decisions_total", decision="low_confidence") == 1
    assert delta("helpdesk_nlu_parse_seconds_count") == 4
    assert sample(after, "helpdesk_queue_length") == 1  # bob waits for a person


async def test_nlu_errors_and_logged_errors_are_counted(db: Database) -> None:
    class Down:
        async def parse(self, text: str) -> ParseResult:
            raise NluUnavailable("down")

        async def ready(self) -> bool:
            return False

        async def close(self) -> None:
            return None

    install_error_counter()
    install_error_counter()  # idempotent: one handler, one count per error
    before = await scrape(db)
    with pytest.raises(NluUnavailable):
        await MeteredNlu(Down(), thresholds=Thresholds(confidence=0.5)).parse("hi")
    logging.getLogger("bot.engine.pipeline").error("something broke")
    after = await scrape(db)
    assert (
        sample(after, "helpdesk_nlu_decisions_total", decision="error")
        - sample(before, "helpdesk_nlu_decisions_total", decision="error")
        == 1
    )
    assert (
        sample(after, "helpdesk_errors_total", logger="bot.engine.pipeline")
        - sample(before, "helpdesk_errors_total", logger="bot.engine.pipeline")
        == 1
    )


async def test_nlu_decisions_follow_the_engines_thresholds() -> None:
    """Ambiguous and unfamiliar parses count as low confidence, as the engine treats them."""

    class Fixed:
        def __init__(self, result: ParseResult) -> None:
            self.result = result

        async def parse(self, text: str) -> ParseResult:
            return self.result

    def faq(confidence: float, runner_up: float, similarity: float) -> ParseResult:
        ranking = (
            IntentScore("faq/order_status", confidence),
            IntentScore("faq/refunds", runner_up),
        )
        return ParseResult("x", "faq/order_status", confidence, ranking, similarity=similarity)

    point = Thresholds(confidence=0.5, margin=0.2, similarity=0.8)
    cases = {
        "clear": (faq(0.9, 0.05, 0.95), "faq"),
        "ambiguous": (faq(0.55, 0.45, 0.95), "low_confidence"),
        "unfamiliar": (faq(0.9, 0.05, 0.6), "low_confidence"),
        "unsure": (faq(0.4, 0.1, 0.95), "low_confidence"),
    }
    for name, (result, decision) in cases.items():
        before = NLU_DECISIONS.labels(decision)._value.get()
        await MeteredNlu(Fixed(result), thresholds=point).parse(name)  # type: ignore[arg-type]
        assert NLU_DECISIONS.labels(decision)._value.get() == before + 1, name


async def test_knowledge_base_reloads_and_model_swaps_are_counted(
    db: Database, tmp_path: Path
) -> None:
    """The watcher counts through the counters the app gives it: these are /metrics'."""
    (tmp_path / "shop.yml").write_text(TEST_KB.joinpath("shop.yml").read_text("utf-8"), "utf-8")
    watcher = KnowledgeWatcher(
        LiveKnowledgeBase(tmp_path, default_language="en"), counters=KbWatchCounters()
    )
    before = await scrape(db)
    (tmp_path / "shop.yml").write_text("faqs: [", encoding="utf-8")  # a broken edit
    assert await watcher.check() is True
    KbWatchCounters().swapped()
    after = await scrape(db)
    for name, labels in (
        ("helpdesk_kb_reloads_total", {"result": "rejected"}),
        ("helpdesk_model_swaps_total", {}),
    ):
        assert sample(after, name, **labels) == sample(before, name, **labels) + 1
    assert sample(after, "helpdesk_kb_reloads_total", result="ok") == sample(
        before, "helpdesk_kb_reloads_total", result="ok"
    )
