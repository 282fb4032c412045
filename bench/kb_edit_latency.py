"""Edit-to-live: how long from saving a knowledge-base file until customers get the change?

    .venv/bin/python bench/kb_edit_latency.py [--kb DIR] [--answer-edits 10] [--write]

What runs: the real engine, a real supervised Rasa server and the knowledge-base watcher
exactly as ``helpdesk run`` wires them (``HotSwapNlu`` + ``MeteredNlu``, the watcher at
``admin.watch_interval_s``), on a copy of the knowledge base (default: the test KB, whose
model is cached) and a fresh SQLite file.

1. Answer edits: rewrite one entry's English answer, then ask its question every 20 ms
   until the reply is the new text. Timed from the file write.
2. A new question: add an entry with new questions. The watcher retrains (the configured
   pipeline, unchanged) and hot-swaps the model. Meanwhile customers keep asking, one
   message every 100 ms (a fresh conversation each, half the new question, half a known
   one). Timed from the file write until the first reply with the new answer; every
   message is checked for a failure (the "technical trouble" reply, or no reply).

``--write`` replaces the ``## Knowledge-base edits`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.channels import ChannelRegistry, OnMessage  # noqa: E402
from bot.engine.pipeline import Engine, EngineOptions  # noqa: E402
from bot.i18n import Catalogue  # noqa: E402
from bot.knowledge.loader import LiveKnowledgeBase  # noqa: E402
from bot.messages import InboundMessage, OutboundMessage  # noqa: E402
from bot.nlu.kb_watch import KnowledgeWatcher, Retrainer  # noqa: E402
from bot.nlu.model_swap import HotSwapNlu  # noqa: E402
from bot.nlu.rasa_server import RasaSupervisor  # noqa: E402
from bot.nlu.thresholds import configured  # noqa: E402
from bot.nlu.training import compile_project, train  # noqa: E402
from bot.reports.metrics import MeteredNlu  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.storage.database import Database  # noqa: E402
from bot.storage.migrate import upgrade_async  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## Knowledge-base edits"
NEW_ENTRY = {
    "id": "gift_wrapping",
    "questions": {
        "en": [
            "Do you offer gift wrapping?",
            "can you gift wrap my present",
            "is gift wrap available for orders",
            "wrap my order as a gift please",
            "how much does gift wrapping cost",
        ]
    },
    "answer": {"en": "Yes: tick 'gift wrap' at checkout; it costs 2 EUR per item."},
}


class BenchChannel:
    """Push a customer message in; read the replies the engine sent back."""

    name = "bench"

    def __init__(self) -> None:
        self.on_message: OnMessage | None = None
        self.ids = itertools.count(1)

    async def start(self, on_message: OnMessage) -> None:
        self.on_message = on_message

    async def stop(self) -> None:
        self.on_message = None

    async def send(self, conversation_key: str, message: OutboundMessage) -> str | None:
        return None

    async def ask(self, text: str, user: str) -> list[OutboundMessage]:
        assert self.on_message is not None
        n = next(self.ids)
        inbound = InboundMessage(
            channel=self.name, conversation_key=user, user_id=user, text=text, message_id=str(n)
        )
        return await self.on_message(inbound)  # type: ignore[return-value]


def rewrite(path: Path, change: Any) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": statistics.median(ordered),
        "max": ordered[-1],
        "min": ordered[0],
        "mean": statistics.fmean(ordered),
    }


async def run(kb_source: Path, answer_edits: int) -> dict[str, Any]:
    settings, _ = load_settings(ROOT / "config.yml")
    work = Path(tempfile.mkdtemp(prefix="kb-edit-bench-"))
    kb_dir = work / "kb"
    shutil.copytree(kb_source, kb_dir)
    kb_file = sorted(kb_dir.glob("*.yml"))[0]
    kb = LiveKnowledgeBase(kb_dir, default_language="en")
    first = next(iter(kb.current))
    question, faq_id = first.questions["en"][0], first.id
    base = compile_project(kb.current, pipeline=settings.nlu.pipeline, build_dir=work / "b0")
    model = await train(
        base, models_dir=ROOT / ".cache" / "models", rasa_venv=ROOT / ".venv-rasa", progress=print
    )
    supervisor = RasaSupervisor(
        rasa_venv=ROOT / ".venv-rasa", model=model, log_file=work / "rasa.log"
    )
    await supervisor.start()
    db_url = f"sqlite+aiosqlite:///{work / 'bench.db'}"
    await upgrade_async(db_url)
    db = Database(db_url)
    client = supervisor.client(timeout_s=settings.nlu.timeout_s)
    nlu = MeteredNlu(
        HotSwapNlu(client, base_url=supervisor.url, token=supervisor.token),
        thresholds=configured(settings.nlu),
    )
    swap_times: dict[str, float] = {}

    class TimedLoader:
        async def load_model(self, model_path: str) -> None:
            swap_times["load_start"] = time.perf_counter()
            await nlu.load_model(model_path)
            swap_times["load_end"] = time.perf_counter()

    channel = BenchChannel()
    registry = ChannelRegistry()
    registry.add(channel)
    catalogue = Catalogue.load(default_language="en")
    engine = Engine(
        db=db,
        nlu=nlu,
        kb=kb,
        catalogue=catalogue,
        channels=registry,
        options=EngineOptions(
            brand=settings.bot.brand,
            default_language="en",
            languages=tuple(settings.bot.languages),
            thresholds=configured(settings.nlu),
            low_confidence_turns=settings.nlu.low_confidence_turns,
        ),
    )
    await channel.start(engine.receive)
    watcher = KnowledgeWatcher(
        kb,
        retrainer=Retrainer(
            pipeline=settings.nlu.pipeline,
            build_dir=work / "build",
            models_dir=work / "models",  # a fresh folder: the new model really trains
            rasa_venv=ROOT / ".venv-rasa",
            loader=TimedLoader(),
        ),
        interval_s=settings.admin.watch_interval_s,
    )
    trouble = catalogue.get("nlu_unavailable", "en", brand=settings.bot.brand)
    watching = asyncio.create_task(watcher.run())
    users = itertools.count(1)
    try:
        await supervisor.wait_ready(settings.nlu.startup_timeout_s)
        answer_ms: list[float] = []
        reload_ms: list[float] = []
        for i in range(answer_edits):
            new_answer = f"Edited answer number {i} for {faq_id}."

            def set_answer(data: dict[str, Any], text: str = new_answer) -> None:
                for entry in data["faqs"]:
                    if entry["id"] == faq_id:
                        entry["answer"]["en"] = text

            async def reloaded(text: str = new_answer) -> float:
                while True:
                    entry = kb.current.get(faq_id)
                    if entry is not None and entry.answers.get("en") == text:
                        return time.perf_counter()
                    await asyncio.sleep(0.005)

            rewrite(kb_file, set_answer)
            written = time.perf_counter()
            reload_ms.append((await reloaded() - written) * 1000)
            while True:
                replies = await channel.ask(question, f"a{next(users)}")
                if replies and replies[0].text == new_answer:
                    break
                await asyncio.sleep(0.02)
            answer_ms.append((time.perf_counter() - written) * 1000)
            await asyncio.sleep(0.3)

        rewrite(kb_file, lambda data: data["faqs"].append(NEW_ENTRY))
        written = time.perf_counter()
        live_s: float | None = None
        sent = failed = 0
        latencies: list[float] = []
        while live_s is None or time.perf_counter() - written < live_s + 5:
            text = NEW_ENTRY["questions"]["en"][0] if sent % 2 == 0 else question  # type: ignore[index]
            started = time.perf_counter()
            replies = await channel.ask(text, f"q{next(users)}")
            latencies.append((time.perf_counter() - started) * 1000)
            sent += 1
            if not replies or replies[0].text == trouble:
                failed += 1
            elif live_s is None and replies[0].text == NEW_ENTRY["answer"]["en"]:  # type: ignore[index]
                live_s = time.perf_counter() - written
            if time.perf_counter() - written > 1800:
                raise TimeoutError("the new question was not live after 30 minutes")
            await asyncio.sleep(0.1)
    finally:
        watching.cancel()
        await watcher.stop()
        await nlu.close()
        await supervisor.stop()
        await db.dispose()
        shutil.rmtree(work, ignore_errors=True)
    return {
        "kb": str(kb_source.relative_to(ROOT))
        if kb_source.is_relative_to(ROOT)
        else str(kb_source),
        "entries": len(kb.current),
        "interval_s": settings.admin.watch_interval_s,
        "pipeline": [
            str(step.get("name", "")).rsplit(".", 1)[-1] for step in settings.nlu.pipeline
        ],
        "answer_edit_ms": summary(answer_ms),
        "answer_reload_ms": summary(reload_ms),
        "answer_edits": len(answer_ms),
        "new_question_live_s": live_s,
        "train_s": swap_times["load_start"] - written,
        "swap_s": swap_times["load_end"] - swap_times["load_start"],
        "stream_sent": sent,
        "stream_failed": failed,
        "stream_latency_ms": summary(latencies),
    }


def write_section(result: dict[str, Any], command: str, load: tuple[float, float]) -> None:
    a, r, s = result["answer_edit_ms"], result["answer_reload_ms"], result["stream_latency_ms"]
    lines = [
        SECTION,
        "",
        f"`{command}`, {time.strftime('%Y-%m-%d')}; load average {load[0]:.1f} before, "
        f"{load[1]:.1f} after, on {os.cpu_count()} cores shared with other work.",
        f"Knowledge base `{result['kb']}` ({result['entries']} entries), the watcher polling every "
        f"{result['interval_s']} s, the real engine and a supervised Rasa server, `config.yml`'s "
        f"pipeline ({' → '.join(result['pipeline'])}).",
        "",
        "| edit | edit-to-live |",
        "|---|---|",
        f"| answer text ({result['answer_edits']} edits, served before the retrain): "
        f"file saved → served (reloaded) | p50 {r['p50']:.0f} ms, max {r['max']:.0f} ms |",
        "| answer text: file saved → reply with the new text to a question asked once it is "
        f"served (one whole turn more) | p50 {a['p50']:.0f} ms, max {a['max']:.0f} ms |",
        f"| new FAQ entry (retrain + hot swap) | {result['new_question_live_s']:.1f} s "
        f"(training {result['train_s']:.1f} s, model load + warm-up {result['swap_s']:.1f} s) |",
        "",
        f"Through the retrain and swap, customers kept writing: {result['stream_sent']} messages, "
        f"{result['stream_failed']} failed. Reply time meanwhile: p50 {s['p50']:.0f} ms, "
        f"max {s['max']:.0f} ms (messages that arrive while Rasa loads the new model wait for "
        "it instead of failing).",
        "",
    ]
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    block = "\n".join(lines) + "\n"
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    RESULTS.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kb", default=str(ROOT / "tests" / "fixtures" / "kb"))
    parser.add_argument("--answer-edits", type=int, default=10)
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = parser.parse_args()
    before = os.getloadavg()[0]
    result = asyncio.run(run(Path(args.kb).resolve(), args.answer_edits))
    after = os.getloadavg()[0]
    print(result)
    if args.write:
        command = "  ".join([".venv/bin/python bench/kb_edit_latency.py", *sys.argv[1:]]).replace(
            "  ", " "
        )
        write_section(result, command, (before, after))


if __name__ == "__main__":
    main()
