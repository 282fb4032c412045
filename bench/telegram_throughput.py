"""Telegram throughput and latency: update available -> the reply's ``sendMessage``.

1,000 messages from 100 Telegram chats (10 each, every customer waiting for the reply
before writing again, as a person in a chat does) are queued on the fake Bot API
server; the real python-telegram-bot Application long-polls them (the channel's
default settings: ``concurrent_updates`` 64) into the engine, with a real Rasa server
and a real database behind it. The fake notes when each update became available and
when each reply's ``sendMessage`` arrived.

    .venv/bin/python -m bench.telegram_throughput                     # SQLite in a temp dir
    .venv/bin/python -m bench.telegram_throughput --database postgres # a fresh PostgreSQL db
    .venv/bin/python -m bench.telegram_throughput --database both     # one after the other
    options: --chats 100 --per-chat 10 --kb tests/fixtures/kb --concurrent-updates N --json FILE
             --results bench/RESULTS.md   (write the numbers into its "## Telegram" section)

The fake server runs in the bot's own process and event loop, so its work is counted
in the bot's time: the figures understate what the bot alone does on this machine, and
say nothing about Telegram's own latency.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import platform
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.channels import ChannelRegistry
from bot.channels.telegram.channel import TelegramChannel
from bot.engine.pipeline import Engine, EngineOptions
from bot.i18n import Catalogue
from bot.knowledge.loader import LiveKnowledgeBase
from bot.nlu.rasa_server import RasaSupervisor
from bot.nlu.thresholds import configured
from bot.nlu.training import compile_project, train
from bot.settings import TelegramSettings, load_settings
from bot.storage.database import Database
from bot.storage.migrate import upgrade_async
from tests.support.fake_telegram import Call, FakeTelegram, TelegramUser

ROOT = Path(__file__).resolve().parent.parent
HEADING = "## Telegram"
COLUMNS = (
    "| database | messages | seconds | messages/s | p50 ms | p90 ms | p99 ms | max ms "
    "| failed sends | load |\n|---|---|---|---|---|---|---|---|---|---|"
)
PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
# Questions the test knowledge base answers with one reply each (an unsure answer twice
# in a row would hand the chat to a person and end the bot's replies).
QUESTIONS = [
    "where is my order?",
    "how can I return an item",
    "which payment methods do you accept",
    "I forgot my password",
    "how long does delivery take",
    "મારો ઓર્ડર ક્યાં છે?",
    "can I pay with UPI",
    "how do I reset my password",
    "when will my package arrive",
    "what is your return policy",
]


async def customer(
    user: TelegramUser, telegram: FakeTelegram, replies: asyncio.Queue[Call], turns: int
) -> list[float]:
    """One customer's chat: seconds from update available to reply, per message."""
    latencies = []
    for turn in range(turns):
        update_id = telegram.push_message(user, QUESTIONS[(user.id + turn) % len(QUESTIONS)])
        call = await asyncio.wait_for(replies.get(), timeout=120)
        latencies.append(call.at - telegram.pushed_at(update_id))
    return latencies


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One Rasa server; one measurement per database asked for."""
    settings, _ = load_settings(ROOT / "config.yml")
    kb = LiveKnowledgeBase(Path(args.kb), default_language="en")
    project = compile_project(
        kb.current,
        pipeline=settings.nlu.pipeline,
        build_dir=ROOT / ".cache" / "build-bench-telegram",
    )
    model = await train(
        project,
        models_dir=ROOT / ".cache" / "models",
        rasa_venv=ROOT / ".venv-rasa",
        progress=print,
    )
    rasa = RasaSupervisor(
        rasa_venv=ROOT / ".venv-rasa",
        model=model,
        log_file=ROOT / ".cache" / "rasa-bench-telegram.log",
    )
    await rasa.start()
    options = EngineOptions(
        brand="VoltCart",
        default_language="en",
        languages=("en", "gu", "te", "ka", "hi"),
        thresholds=configured(settings.nlu),
        low_confidence_turns=settings.nlu.low_confidence_turns,
    )
    reports = []
    try:
        await rasa.wait_ready(240)
        wanted = {"sqlite": [False], "postgres": [True], "both": [False, True]}[args.database]
        for postgres in wanted:
            db_url, drop = await database(postgres)
            await upgrade_async(db_url)
            db = Database(db_url)
            try:
                report = await measure(args, rasa, db, kb, options)
            finally:
                await db.dispose()
                await drop()
            report["database"] = "PostgreSQL" if postgres else "SQLite"
            reports.append(report)
            print(json.dumps(report, indent=2))
    finally:
        await rasa.stop()
    return reports


async def measure(
    args: argparse.Namespace,
    rasa: RasaSupervisor,
    db: Database,
    kb: LiveKnowledgeBase,
    options: EngineOptions,
) -> dict[str, Any]:
    async with FakeTelegram() as telegram:
        telegram_settings = TelegramSettings(
            base_url=telegram.base_url,
            base_file_url=telegram.base_file_url,
            concurrent_updates=args.concurrent_updates,
        )
        channel = TelegramChannel(token=telegram.token, settings=telegram_settings)
        registry = ChannelRegistry()
        registry.add(channel)
        nlu = rasa.client()
        engine = Engine(
            db=db,
            nlu=nlu,
            kb=kb,
            catalogue=Catalogue.load(default_language="en"),
            channels=registry,
            options=options,
        )
        users = [TelegramUser(100_000 + i, f"Customer {i}") for i in range(args.chats)]
        per_chat = {user.id: asyncio.Queue[Call]() for user in users}

        def route(call: Call) -> None:
            if call.method == "sendMessage" and call.status == 200:
                per_chat[call.params["chat_id"]].put_nowait(call)

        telegram.subscribe(route)
        await channel.start(engine.receive)
        try:
            await channel.wait_connected(30)
            load_before = os.getloadavg()[0]
            started = time.monotonic()
            results = await asyncio.gather(
                *(customer(u, telegram, per_chat[u.id], args.per_chat) for u in users)
            )
            elapsed = time.monotonic() - started
            load_after = os.getloadavg()[0]
        finally:
            await channel.stop()
            await nlu.close()
        failed = [c for c in telegram.calls("sendMessage") if c.status != 200]
        polls = len(telegram.calls("getUpdates"))
    latencies = [seconds for chat in results for seconds in chat]
    return {
        "messages": len(latencies),
        "chats": args.chats,
        "failed_sends": len(failed),
        "get_updates_calls": polls,
        "concurrent_updates": telegram_settings.concurrent_updates,
        "knowledge_base": os.path.relpath(args.kb, ROOT),
        "seconds": round(elapsed, 2),
        "throughput_per_s": round(len(latencies) / elapsed, 1),
        "latency_ms": {
            "p50": round(percentile(latencies, 0.50) * 1000, 1),
            "p90": round(percentile(latencies, 0.90) * 1000, 1),
            "p99": round(percentile(latencies, 0.99) * 1000, 1),
            "max": round(max(latencies) * 1000, 1),
            "mean": round(statistics.fmean(latencies) * 1000, 1),
        },
        "machine": machine(),
        "load_average_1min": [round(load_before, 1), round(load_after, 1)],
        "date": dt.date.today().isoformat(),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def database(postgres: bool) -> tuple[str, Callable[[], Awaitable[None]]]:
    """A fresh database URL, and a coroutine function that drops it afterwards."""
    if not postgres:
        folder = tempfile.mkdtemp(prefix="bench-telegram-")

        async def keep() -> None:
            return None

        return f"sqlite+aiosqlite:///{folder}/helpdesk.db", keep
    name = f"bench_telegram_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        engine = create_async_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(sql))
        await engine.dispose()

    await admin(f'CREATE DATABASE "{name}"')

    async def drop() -> None:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False), drop


def machine() -> str:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        model = f", {found[1].strip()}" if found else ""
    return f"{os.cpu_count()} cores{model}, {platform.system()}, Python {platform.python_version()}"


def section(reports: list[dict[str, Any]], command: str) -> str:
    first = reports[0]
    each = first["messages"] // first["chats"]
    rows = []
    for report in reports:
        latency = report["latency_ms"]
        cells = [
            report["database"],
            report["messages"],
            report["seconds"],
            report["throughput_per_s"],
            *(latency[q] for q in ("p50", "p90", "p99", "max")),
            report["failed_sends"],
            " → ".join(str(x) for x in report["load_average_1min"]),
        ]
        rows.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    table = "\n".join(rows)
    return f"""{HEADING}

`{command}`, {first["date"]}, {first["machine"]}, shared with other work (the 1-minute
load average at the start and end of each run is in the table).
{first["messages"]} messages from {first["chats"]} chats ({each} each, every customer waiting
for the reply before writing again) through the fake Bot API server into the real
python-telegram-bot Application (long polling, `concurrent_updates`
{first["concurrent_updates"]}), the engine and a real Rasa server (test knowledge base).
Latency: from the update becoming available on the fake server to the reply's `sendMessage`
arriving there. The fake server shares the bot's process and event loop, so its own work
is included. With every customer always waiting for an answer, the bot is saturated and the
latency is mostly queueing: about (number of chats) / (messages per second); run with
`--chats 1` for the time of one message alone.

{COLUMNS}
{table}
"""


def write_section(path: Path, text: str) -> None:
    """Replace this benchmark's section of RESULTS.md (or add it), leaving the rest alone."""
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text + "\n", current, count=1)
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    path.write_text(updated.rstrip("\n") + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--chats", type=int, default=100)
    parser.add_argument("--per-chat", type=int, default=10)
    parser.add_argument("--kb", default=str(ROOT / "tests" / "fixtures" / "kb"))
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument(
        "--concurrent-updates", type=int, default=TelegramSettings().concurrent_updates
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--results", type=Path, help="update this file's Telegram section")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    reports = asyncio.run(run(args))
    command = " ".join([".venv/bin/python -m bench.telegram_throughput", *sys.argv[1:]])
    text = section(reports, command)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(reports, indent=2) + "\n", encoding="utf-8")
    if args.results:
        write_section(args.results, text)


if __name__ == "__main__":
    main()
