"""Slack throughput and latency: signed event POST -> ``chat.postMessage``.

1,000 ``message.im`` events from 100 users (10 each, every user waiting for the
reply before writing again, as a person in a chat does) are POSTed, signed, to the
real bolt app served by uvicorn, with the engine, a real Rasa server and a real
database behind it; the fake Slack Web API notes when each reply arrives.

    .venv/bin/python -m bench.slack_events                 # SQLite in a temp dir
    .venv/bin/python -m bench.slack_events --postgres      # a fresh PostgreSQL database
    options: --users 100 --per-user 10 --kb tests/fixtures/kb --json build/bench-slack.json
             --stub-nlu (an instant NLU instead of Rasa: the Slack path, engine and database alone)
             --burst (each user sends its messages back to back, not waiting for replies)

Reports throughput (events per second, first POST to last reply), the latency from
the event POST to the reply's ``chat.postMessage`` (p50/p90/p99/max), and the time
to acknowledge (the POST's own round trip).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.channels import ChannelRegistry
from bot.channels.slack.channel import SlackChannel
from bot.engine.pipeline import Engine, EngineOptions
from bot.i18n import Catalogue
from bot.knowledge.loader import LiveKnowledgeBase
from bot.nlu.client import IntentScore, ParseResult
from bot.nlu.rasa_server import RasaSupervisor
from bot.nlu.thresholds import configured
from bot.nlu.training import compile_project, train
from bot.settings import Settings, SlackSettings, load_settings
from bot.storage.database import Database
from bot.storage.migrate import upgrade_async
from bot.web.app import create_web_app
from tests.support.fake_slack import FakeSlack, SlackCall
from tests.support.server import serve

ROOT = Path(__file__).resolve().parent.parent
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


class TimedNlu:
    """The Rasa client, timing each parse (to see how much of a reply is the NLU)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seconds: list[float] = []

    async def parse(self, text: str) -> Any:
        started = time.monotonic()
        try:
            return await self.inner.parse(text)
        finally:
            self.seconds.append(time.monotonic() - started)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class StubNlu:
    """An NLU that answers at once (``--stub-nlu``): the channel, engine and database alone."""

    async def parse(self, text: str) -> ParseResult:
        intent = "faq/order_status"
        return ParseResult(text, intent, 1.0, ranking=(IntentScore(intent, 1.0),))

    async def ready(self) -> bool:
        return True

    async def close(self) -> None:
        return None


async def start_rasa(settings: Settings, kb: LiveKnowledgeBase) -> RasaSupervisor:
    project = compile_project(
        kb.current, pipeline=settings.nlu.pipeline, build_dir=ROOT / ".cache" / "build-bench"
    )
    model = await train(
        project,
        models_dir=ROOT / ".cache" / "models",
        rasa_venv=ROOT / ".venv-rasa",
        progress=print,
    )
    rasa = RasaSupervisor(
        rasa_venv=ROOT / ".venv-rasa", model=model, log_file=ROOT / ".cache" / "rasa-bench.log"
    )
    # Work around bot/nlu/rasa_server.py passing "--auth-token <token>": a token_urlsafe token
    # that starts with "-" reads as an option to Rasa's argparse, and Rasa never starts.
    while rasa.token.startswith("-"):
        rasa.token = secrets.token_urlsafe(24)
    await rasa.start()
    await rasa.wait_ready(240)
    return rasa


class UnstoredAcks(logging.Handler):
    """Counts events the channel acknowledged before their message was committed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "not stored within" in record.getMessage():
            self.count += 1


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def chat(
    user: str, slack: FakeSlack, url: str, replies: asyncio.Queue[SlackCall], turns: int
) -> list[tuple[float, float]]:
    """One user's conversation: (ack seconds, reply seconds) per message."""
    timings = []
    for turn in range(turns):
        event = slack.dm(user, QUESTIONS[(int(user[1:]) + turn) % len(QUESTIONS)])
        started = time.monotonic()
        response = await slack.post_event(url, event)
        acked = time.monotonic()
        if response.status_code != 200:
            raise RuntimeError(f"event POST answered {response.status_code}")
        call = await asyncio.wait_for(replies.get(), timeout=60)
        timings.append((acked - started, call.at - started))
    return timings


async def burst(
    user: str, slack: FakeSlack, url: str, replies: asyncio.Queue[SlackCall], turns: int
) -> list[tuple[float, float]]:
    """``--burst``: one user sends ``turns`` messages back to back, then reads the replies.

    Each POST still waits for its own acknowledgement, as Slack's delivery of one event
    does; what it measures is whether a message's acknowledgement waits for the turns of
    the messages before it in the same conversation.
    """
    starts, acks = [], []
    for turn in range(turns):
        event = slack.dm(user, QUESTIONS[(int(user[1:]) + turn) % len(QUESTIONS)])
        started = time.monotonic()
        response = await slack.post_event(url, event)
        acks.append(time.monotonic() - started)
        starts.append(started)
        if response.status_code != 200:
            raise RuntimeError(f"event POST answered {response.status_code}")
    timings = []
    for started, ack in zip(starts, acks, strict=True):
        call = await asyncio.wait_for(replies.get(), timeout=120)
        timings.append((ack, call.at - started))
    return timings


async def run(args: argparse.Namespace) -> dict[str, Any]:
    settings, _ = load_settings(ROOT / "config.yml")
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    unstored = UnstoredAcks()
    logging.getLogger("bot.channels.slack.channel").addHandler(unstored)
    kb = LiveKnowledgeBase(Path(args.kb), default_language="en")
    rasa = None if args.stub_nlu else await start_rasa(settings, kb)
    db_url, drop = await database(args.postgres)
    await upgrade_async(db_url)
    db = Database(db_url)
    try:
        async with FakeSlack() as slack:
            users = [f"U{i:04d}" for i in range(args.users)]
            for user in users:
                slack.add_user(user, f"user{user}")
            channel = SlackChannel(
                SlackSettings(base_url=slack.base_url),
                bot_token=slack.bot_token,
                signing_secret=slack.signing_secret,
            )
            registry = ChannelRegistry()
            registry.add(channel)
            nlu = TimedNlu(StubNlu() if rasa is None else rasa.client())
            engine = Engine(
                db=db,
                nlu=nlu,
                kb=kb,
                catalogue=Catalogue.load(default_language="en"),
                channels=registry,
                options=EngineOptions(
                    brand="VoltCart",
                    default_language="en",
                    languages=("en", "gu", "te", "ka", "hi"),
                    thresholds=configured(settings.nlu),
                    low_confidence_turns=settings.nlu.low_confidence_turns,
                ),
            )
            await channel.start(engine.receive)

            async def ready() -> dict[str, object]:
                return {"ready": True}

            app = create_web_app(
                engine=engine, webchat=None, readiness=ready, routes=channel.routes()
            )
            per_user = {user: asyncio.Queue[SlackCall]() for user in users}
            posts = slack.subscribe("chat.postMessage")

            async def route_replies() -> None:
                while True:
                    call = await posts.get()
                    per_user[call.args["channel"][1:]].put_nowait(call)

            router = asyncio.create_task(route_replies())
            try:
                async with serve(app) as address:
                    url = f"http://{address}/slack/events"
                    started = time.monotonic()
                    talk = burst if args.burst else chat
                    results = await asyncio.gather(
                        *(talk(u, slack, url, per_user[u], args.per_user) for u in users)
                    )
                    elapsed = time.monotonic() - started
            finally:
                router.cancel()
                await channel.stop()
                await nlu.close()
            replies = len(slack.calls("chat.postMessage"))
    finally:
        await db.dispose()
        if rasa is not None:
            await rasa.stop()
        await drop()
    acks = [ack for timings in results for ack, _ in timings]
    latencies = [reply for timings in results for _, reply in timings]
    return {
        "events": len(latencies),
        "users": args.users,
        "mode": "burst" if args.burst else "wait for each reply",
        "replies": replies,
        "database": "postgresql" if args.postgres else "sqlite",
        "nlu": "stub (no model)" if args.stub_nlu else "rasa",
        "knowledge_base": args.kb,
        "seconds": round(elapsed, 2),
        "throughput_per_s": round(len(latencies) / elapsed, 1),
        "reply_ms": summary(latencies),
        "ack_ms": summary(acks),
        "acknowledged_before_stored": unstored.count,
        "nlu_parse_ms": summary(nlu.seconds),
        "load_average_at_start": load_at_start,
    }


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 0.50) * 1000, 1),
        "p90": round(percentile(values, 0.90) * 1000, 1),
        "p99": round(percentile(values, 0.99) * 1000, 1),
        "max": round(max(values) * 1000, 1),
        "mean": round(statistics.fmean(values) * 1000, 1),
    }


async def database(postgres: bool) -> tuple[str, Any]:
    """A fresh database URL and a coroutine function that drops it afterwards."""
    if not postgres:
        folder = tempfile.mkdtemp(prefix="bench-slack-")
        url = f"sqlite+aiosqlite:///{folder}/helpdesk.db"

        async def nothing() -> None:
            return None

        return url, nothing
    name = f"bench_slack_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        engine = create_async_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(sql))
        await engine.dispose()

    await admin(f'CREATE DATABASE "{name}"')

    async def drop() -> None:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--per-user", type=int, default=10)
    parser.add_argument("--kb", default=str(ROOT / "tests" / "fixtures" / "kb"))
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--stub-nlu", action="store_true", help="no Rasa: isolate the rest")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--burst", action="store_true", help="each user sends all messages before any reply"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    report = asyncio.run(run(args))
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
