"""Fault runs bigger than CI's: the bot killed with SIGKILL mid-stream, and NLU costs.

    .venv/bin/python -m bench.faults kill9 --sessions 100 --messages 20 --kills 3
    .venv/bin/python -m bench.faults nlu-length
    .venv/bin/python -m bench.faults flood

``kill9`` runs ``helpdesk run`` against a fresh SQLite file and a fresh PostgreSQL
database (``--db``), with a Rasa serving the test knowledge base's model, and prints
lost / duplicated / resent per database (tests/faults/kill9.py explains the counts).
``nlu-length`` times one parse by message length and shows whether the intent read from
a question's first ``nlu.max_parse_chars`` is the one read from the whole message.
``flood`` sends ten 4,000-character messages from ten sessions at once, then a calm
customer's five questions, with the NLU bounds on and off (a fresh Rasa for each).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from websockets.asyncio.client import ClientConnection, connect

from bot.knowledge.loader import LiveKnowledgeBase
from bot.nlu.rasa_server import RasaSupervisor, free_port
from bot.nlu.training import compile_project, train
from bot.settings import load_settings
from tests.faults.kill9 import QUESTIONS, Bot, answer_texts, run

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


@asynccontextmanager
async def rasa() -> AsyncIterator[RasaSupervisor]:
    settings, _ = load_settings(ROOT / "config.yml")
    kb = LiveKnowledgeBase(ROOT / "tests" / "fixtures" / "kb", default_language="en")
    project = compile_project(
        kb.current, pipeline=settings.nlu.pipeline, build_dir=ROOT / ".cache" / "build-test-kb"
    )
    model = await train(
        project,
        models_dir=ROOT / ".cache" / "models",
        rasa_venv=ROOT / ".venv-rasa",
        progress=print,
    )
    supervisor = RasaSupervisor(
        rasa_venv=ROOT / ".venv-rasa", model=model, log_file=ROOT / ".cache" / "rasa-bench.log"
    )
    await supervisor.start()
    try:
        await supervisor.wait_ready(240)
        yield supervisor
    finally:
        await supervisor.stop()


@asynccontextmanager
async def fresh_postgres() -> AsyncIterator[str]:
    name = f"helpdesk_faults_{uuid.uuid4().hex[:8]}"
    admin = make_url(PG)

    async def execute(sql: str) -> None:
        engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(sql))
        await engine.dispose()

    await execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        await execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def kill9(args: argparse.Namespace) -> None:
    async with rasa() as nlu:
        for db in args.db:
            with tempfile.TemporaryDirectory() as tmp:
                if db == "sqlite":
                    figures = await run(
                        database_url=f"sqlite:///{Path(tmp) / 'faults.db'}",
                        nlu_url=nlu.url,
                        nlu_token=nlu.token,
                        port=free_port(),
                        sessions=args.sessions,
                        messages=args.messages,
                        kills=args.kills,
                        within=args.within,
                    )
                else:
                    async with fresh_postgres() as url:
                        figures = await run(
                            database_url=url,
                            nlu_url=nlu.url,
                            nlu_token=nlu.token,
                            port=free_port(),
                            sessions=args.sessions,
                            messages=args.messages,
                            kills=args.kills,
                            within=args.within,
                        )
            print(db, asdict(figures))


async def nlu_length(args: argparse.Namespace) -> None:
    filler = " I have been waiting for a long time and nobody tells me anything."
    async with rasa() as supervisor:
        client = supervisor.client(timeout_s=300)
        try:
            print("chars  p50_ms  max_ms")
            for length in (100, 500, 1000, 2000, 4000, 10_000, 40_000):
                question = QUESTIONS[0][0]
                message = (question + filler * (length // len(filler) + 1))[:length]
                times = []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    await client.parse(message)
                    times.append((time.perf_counter() - started) * 1000)
                print(f"{length:>6} {statistics.median(times):7.1f} {max(times):7.1f}")
            for extra in (0, 5, 20, 60):  # the question, then this many filler sentences
                whole = start = 0
                for question, faq in QUESTIONS:
                    long = question + filler * extra
                    whole += (await client.parse(long)).intent == f"faq/{faq}"
                    cut = long[: args.max_parse_chars]
                    start += (await client.parse(cut)).intent == f"faq/{faq}"
                print(
                    f"{len(QUESTIONS[0][0] + filler * extra):>6} chars: right FAQ from the"
                    f" whole {whole}/7, from the first {args.max_parse_chars} {start}/7"
                )
        finally:
            await client.close()


async def ask(ws: ClientConnection, text: str) -> tuple[float, str]:
    """Send one message; the seconds until its reply, and the reply."""
    started = time.perf_counter()
    await ws.send(json.dumps({"type": "message", "id": uuid.uuid4().hex, "text": text}))
    while (frame := json.loads(await ws.recv()))["type"] != "message":
        pass
    return time.perf_counter() - started, str(frame["text"])


async def flooder(url: str, n: int) -> float:
    async with connect(f"{url}flood-{n:04d}-session", max_size=None) as ws:
        await ws.recv()
        # Each a different length: the first parse of a new length is the costly one.
        return (await ask(ws, ("Where is my order? " + "la " * 2000)[: 4000 - n]))[0]


async def flood(args: argparse.Namespace) -> None:
    answers = answer_texts()
    unbounded = {
        "HELPDESK_NLU__MAX_PARSE_CHARS": "1000000",
        "HELPDESK_NLU__MAX_CONCURRENT_PARSES": "1000",
    }
    for label, env in (("unbounded", unbounded), ("bounded (defaults)", {})):
        async with rasa() as nlu:
            with tempfile.TemporaryDirectory() as tmp:
                port = free_port()
                bot = Bot(
                    database_url=f"sqlite:///{Path(tmp) / 'flood.db'}",
                    nlu_url=nlu.url,
                    nlu_token=nlu.token,
                    port=port,
                )
                bot.env.update(env)
                await bot.start()
                url = f"ws://127.0.0.1:{port}/ws/chat?lang=en&session="
                try:
                    floods = [asyncio.ensure_future(flooder(url, n)) for n in range(10)]
                    await asyncio.sleep(0.2)  # the flood reaches the bot first
                    calm: list[tuple[float, str]] = []
                    async with connect(f"{url}calm-customer-session") as ws:
                        await ws.recv()
                        for question, _ in QUESTIONS[:5]:
                            calm.append(await ask(ws, question))
                    flood_s = await asyncio.gather(*floods)
                finally:
                    await bot.stop()
        right = sum(text == answers[q] for (_, text), (q, _) in zip(calm, QUESTIONS, strict=False))
        latency = ", ".join(f"{t:.2f}" for t, _ in calm)
        print(
            f"{label}: calm customer's right answers {right}/5, latency {latency} s;"
            f" slowest flood turn {max(flood_s):.1f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    k = commands.add_parser("kill9", help="kill -9 the bot mid-stream")
    k.add_argument("--sessions", type=int, default=100)
    k.add_argument("--messages", type=int, default=20)
    k.add_argument("--kills", type=int, default=3)
    k.add_argument("--within", type=float, default=600)
    k.add_argument("--db", nargs="+", default=["sqlite", "postgres"])
    n = commands.add_parser("nlu-length", help="parse time by message length")
    n.add_argument("--repeat", type=int, default=5)
    n.add_argument("--max-parse-chars", type=int, default=1000)
    commands.add_parser("flood", help="long messages from many sessions, and a calm one")
    args = parser.parse_args()
    run_ = {"kill9": kill9, "nlu-length": nlu_length, "flood": flood}[args.command]
    asyncio.run(run_(args))


if __name__ == "__main__":
    main()
