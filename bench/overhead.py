"""The bot's own cost per message against the NLU's, in one run on one machine.

Three measurements, one after the other, with one real Rasa server on the shipped model
(``config.yml``'s knowledge base and pipeline):

(a) **bare NLU**: ``POST /model/parse`` through the bot's own Rasa client, with as many
    concurrent clients as the bot lets parse at once (``nlu.max_concurrent_parses``),
    and with one client alone (the latency a single customer meets);
(b) **the bot**, wired as ``helpdesk run`` wires it (``bot.app``: desk, tickets, metrics,
    all three channels in one app on uvicorn), with the same Rasa behind it: customers
    write through the web chat socket, the Telegram webhook (fake Bot API) and Slack
    events (fake Web API), on SQLite and on PostgreSQL;
(c) the same bot with a **stub NLU**: a tiny HTTP server in its own process speaking
    ``POST /model/parse``, answering at once with what Rasa answered for that text in (a).

Each bot row: ``--customers`` customers (default 4 x ``max_concurrent_parses``, so the
NLU always has work) write ``--per-customer`` messages each, every one waiting for the
reply before writing again; then one customer alone writes ``--single`` messages (its
reply p99 is the latency target's). Throughput counts first message to last reply.

    .venv/bin/python -m bench.overhead                  # 4-5 minutes (more on a busy box)
    .venv/bin/python -m bench.overhead --quick          # 2-4 minutes, fewer messages
    options: --json FILE  --channel webchat|telegram|slack (repeatable)
             --database sqlite|postgres (repeatable)  --stub-only  --profile FILE (pyinstrument,
             installed separately: profiles the stub rows and writes its text report)

The load (customers, fake Telegram and Slack servers) runs in the bot's process and event
loop, as in the other benchmarks: its CPU is counted in the bot's. The ``cpu_ms`` column
is this process's CPU time per message (bot, fakes and load together).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from websockets.asyncio.client import ClientConnection, connect

from bot.app import build_channels, build_helpdesk, build_web_app
from bot.engine.frustration import signs
from bot.knowledge.loader import LiveKnowledgeBase
from bot.nlu.client import _to_result
from bot.nlu.decision import decide
from bot.nlu.rasa_server import RasaSupervisor, free_port
from bot.nlu.thresholds import configured
from bot.nlu.training import compile_project, train
from bot.settings import Secrets, Settings, load_settings
from tests.support.fake_slack import FakeSlack, SlackCall
from tests.support.fake_telegram import Call, FakeTelegram, TelegramUser
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
CHANNELS = ("webchat", "telegram", "slack")
DATABASES = ("sqlite", "postgres")
WEBHOOK_SECRET = "bench-overhead-secret"
# Languages the bench asks in: every language the shipped model knows.
LANGUAGES = ("en", "gu", "te", "ka", "hi")
WARM_UP_TURNS = 2
"""Per row, before measuring: the first turns pay for imports and first queries."""
TARGET_RATIO = 0.8
TARGET_STUB_FACTOR = 5.0
TARGET_P99_SLACK_MS = 20.0


# --- numbers ----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Run:
    """Latencies (seconds) of one measurement and how long it took in all."""

    latencies: list[float]
    seconds: float
    cpu_seconds: float = 0.0

    def summary(self) -> dict[str, float]:
        n = len(self.latencies)
        return {
            "messages": n,
            "seconds": round(self.seconds, 2),
            "per_s": round(n / self.seconds, 1),
            "p50_ms": round(percentile(self.latencies, 0.50) * 1000, 1),
            "p99_ms": round(percentile(self.latencies, 0.99) * 1000, 1),
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 1),
            "cpu_ms": round(self.cpu_seconds / n * 1000, 2),
        }


async def timed(work: Callable[[], Awaitable[list[list[float]]]]) -> Run:
    cpu, started = time.process_time(), time.monotonic()
    results = await work()
    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
    return Run([x for one in results for x in one], elapsed, cpu)


# --- the shipped model and its questions ------------------------------------------------


async def start_rasa(settings: Settings) -> tuple[RasaSupervisor, LiveKnowledgeBase]:
    kb = LiveKnowledgeBase(ROOT / settings.knowledge_base.path, default_language="en")
    project = compile_project(
        kb.current, pipeline=settings.nlu.pipeline, build_dir=ROOT / ".cache" / "build-overhead"
    )
    model = await train(
        project, models_dir=ROOT / ".cache" / "models", rasa_venv=ROOT / ".venv-rasa"
    )
    rasa = RasaSupervisor(
        rasa_venv=ROOT / ".venv-rasa", model=model, log_file=ROOT / ".cache" / "rasa-overhead.log"
    )
    await rasa.start()
    await rasa.wait_ready(240)
    return rasa, kb


# Every message is a text the NLU has not seen: the model keeps the embeddings of its
# last 2,048 texts (bot/nlu_components/sentence_embeddings.py), and customers rarely
# type the same words twice. The texts: the knowledge base's questions in every
# language, each plain and in a few wrappings (about 6,000 in all).
WRAPPINGS = (
    "{}",
    "hi, {}",
    "hello {}",
    "{} please",
    "{} thanks",
    "hey, {}",
    "quick question: {}",
    "ok so {}",
    "please help: {}",
    "{} ?",
)


def texts(kb: LiveKnowledgeBase, count: int) -> list[str]:
    questions = [q for entry in kb.current for qs in entry.questions.values() for q in qs]
    pool = list(dict.fromkeys(w.format(q) for w in WRAPPINGS for q in questions))
    random.Random(17).shuffle(pool)
    return pool[:count]


@dataclass
class Texts:
    """Texts the NLU answered confidently in (a), each handed out once (then again, counted
    in ``reused``): Rasa is restarted after (a), so each parse in (b) is a fresh one."""

    confident: list[str]
    raw: dict[str, Any]
    """Rasa's answer to every text read (the stub NLU's script)."""
    used: int = 0
    reused: int = 0

    def take(self) -> str:
        if self.used >= len(self.confident):
            self.reused += 1
        text = self.confident[self.used % len(self.confident)]
        self.used += 1
        return text


# --- (a) the bare NLU -------------------------------------------------------------------


async def bare_nlu(
    rasa: RasaSupervisor,
    kb: LiveKnowledgeBase,
    settings: Settings,
    *,
    clients: int,
    single: int,
    count: int,
) -> tuple[Run, Run, Texts]:
    """Every text parsed once: the first ``single`` by one client alone, the rest by
    ``clients`` at once, over one connection pool as the bot's RasaClient does.

    A text makes the bot's list when the bot would answer it on its own with one reply:
    an unsure answer twice in a row would hand the chat to a person (and end the bot's
    replies), and so could an angry one.
    """
    thresholds = configured(settings.nlu)
    pool = texts(kb, count)
    raw: dict[str, Any] = {}
    confident: list[str] = []

    async def read(http: httpx.AsyncClient, text: str) -> float:
        started = time.monotonic()
        response = await http.post("/model/parse", json={"text": text})
        data = response.json()
        result = _to_result(text, data)  # what RasaClient.parse does with it
        took = time.monotonic() - started
        decision = decide(
            result, thresholds=thresholds, known_faq=lambda f: kb.current.get(f) is not None
        )
        if decision.answers and result.faq_id and not signs(text).negative:
            confident.append(text)
        raw[text] = data
        return took

    async with httpx.AsyncClient(
        base_url=rasa.url,
        params={"token": rasa.token},
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
    ) as http:
        first = iter(pool[:single])
        rest = iter(pool[single:])

        async def client(texts: Iterator[str]) -> list[float]:
            return [await read(http, text) for text in texts]

        one = await timed(lambda: asyncio.gather(*[client(first)]))
        many = await timed(lambda: asyncio.gather(*(client(rest) for _ in range(clients))))
    return one, many, Texts(confident, raw)


# --- (c) the stub NLU, in its own process -----------------------------------------------


def serve_stub(port: int, script: Path) -> None:
    """The stub NLU server (``--serve-stub``): Rasa's answers from ``script``, at once."""
    answers: dict[str, bytes] = {
        question: json.dumps(data).encode()
        for question, data in json.loads(script.read_text(encoding="utf-8")).items()
    }
    status = json.dumps({"model_file": "stub.tar.gz"}).encode()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                if lines[0].startswith("POST /model/parse"):
                    asked = json.loads(body).get("text", "")
                    out = answers.get(asked) or next(iter(answers.values()))
                else:
                    out = status
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: " + str(len(out)).encode() + b"\r\n\r\n" + out
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


@contextlib.asynccontextmanager
async def stub_nlu(raw: dict[str, Any]) -> AsyncIterator[str]:
    script = Path(tempfile.mkdtemp(prefix="bench-stub-nlu-")) / "answers.json"
    script.write_text(json.dumps(raw), encoding="utf-8")
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.overhead", "--serve-stub", str(port), str(script), cwd=ROOT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:

            async def up() -> bool:
                try:
                    return (await http.get(f"{url}/status")).status_code == 200
                except httpx.TransportError:
                    return False

            for _ in range(100):
                if await up():
                    break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the stub NLU did not start")
        yield url
    finally:
        process.terminate()
        await process.wait()


# --- databases --------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def database(kind: str) -> AsyncIterator[str]:
    """A fresh, empty database URL (the bot migrates it at start), dropped afterwards."""
    if kind == "sqlite":
        folder = tempfile.mkdtemp(prefix="bench-overhead-")
        yield f"sqlite+aiosqlite:///{folder}/helpdesk.db"
        return
    name = f"bench_overhead_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        engine = create_async_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(sql))
        await engine.dispose()

    await admin(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- (b) and (c): the bot, as helpdesk run wires it -------------------------------------


@dataclass
class Bot:
    """The running app and the fake platforms its channels talk to."""

    address: str
    telegram: FakeTelegram
    slack: FakeSlack
    replies: dict[str, asyncio.Queue[float]] = field(default_factory=dict)
    """When each reply reached the customer's platform, by ``channel/customer``."""

    def inbox(self, key: str) -> asyncio.Queue[float]:
        return self.replies.setdefault(key, asyncio.Queue())


@contextlib.asynccontextmanager
async def running_bot(
    settings: Settings, db_url: str, nlu_url: str, nlu_token: str | None
) -> AsyncIterator[Bot]:
    settings = settings.model_copy(deep=True)
    settings.database.url = db_url
    settings.nlu.url = nlu_url
    settings.knowledge_base.path = ROOT / settings.knowledge_base.path
    settings.admin.watch_knowledge_base = False  # nothing edits it here
    async with FakeTelegram() as telegram, FakeSlack() as slack:
        settings.channels.telegram.mode = "webhook"
        settings.channels.telegram.base_url = telegram.base_url
        settings.channels.telegram.base_file_url = telegram.base_file_url
        settings.channels.telegram.webhook_url = "https://bench.invalid/telegram/webhook"
        settings.channels.slack.base_url = slack.base_url
        secrets = Secrets.model_validate(
            {
                "TELEGRAM_BOT_TOKEN": telegram.token,
                "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "SLACK_BOT_TOKEN": slack.bot_token,
                "SLACK_SIGNING_SECRET": slack.signing_secret,
                "RASA_TOKEN": nlu_token,
            }
        )
        channels = build_channels(settings, secrets)
        helpdesk = build_helpdesk(
            settings, secrets, channels=channels, model=None, rasa_token=nlu_token
        )
        app = build_web_app(helpdesk, channels, lambda _: None)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        bot = Bot(f"127.0.0.1:{port}", telegram, slack)

        def telegram_reply(call: Call) -> None:
            if call.method == "sendMessage" and call.status == 200:
                bot.inbox(f"telegram/{call.params['chat_id']}").put_nowait(call.at)

        telegram.subscribe(telegram_reply)
        posts = slack.subscribe("chat.postMessage")

        async def slack_replies() -> None:
            while True:
                call: SlackCall = await posts.get()
                bot.inbox(f"slack/{call.args['channel'][1:]}").put_nowait(call.at)

        router = asyncio.create_task(slack_replies())
        task = asyncio.create_task(server.serve())
        try:
            await wait_until(
                lambda: helpdesk.ready or task.done(), within=120, what="the bot ready"
            )
            if task.done():
                task.result()
            yield bot
        finally:
            router.cancel()
            server.should_exit = True
            await task


class Customer:
    """One customer on one channel: ``say`` returns seconds from sending to the reply."""

    def __init__(self, bot: Bot, channel: str, index: int, http: httpx.AsyncClient) -> None:
        self.bot, self.channel, self.index, self.http = bot, channel, index, http
        self.name = f"{uuid.uuid4().hex[:10]}{index}"
        self.socket: ClientConnection | None = None
        self.sent = 0
        if channel == "telegram":
            self.user = TelegramUser(200_000 + int(uuid.uuid4().int % 10**8), f"C{index}")
            self.key = f"telegram/{self.user.id}"
            # The fake Bot API only lets the bot write to chats that wrote to it first.
            bot.telegram.state.known_chats.add(self.user.id)
        elif channel == "slack":
            self.slack_user = f"U{self.name.upper()}"
            bot.slack.add_user(self.slack_user, f"customer{index}")
            self.key = f"slack/{self.slack_user}"
        else:
            self.key = f"webchat/{self.name}"

    async def open(self) -> None:
        if self.channel == "webchat":
            self.socket = await connect(f"ws://{self.bot.address}/ws/chat?session=bench{self.name}")
            await self.socket.recv()  # the history frame

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()

    async def say(self, words: str) -> float:
        self.sent += 1
        started = time.monotonic()
        if self.channel == "webchat":
            assert self.socket is not None
            frame = {"type": "message", "id": f"m{self.sent}", "text": words}
            await self.socket.send(json.dumps(frame))
            while True:
                got = json.loads(await asyncio.wait_for(self.socket.recv(), 60))
                if got["type"] == "message":
                    return time.monotonic() - started
                if got["type"] == "error":
                    raise RuntimeError(f"web chat refused a message: {got}")
        if self.channel == "telegram":
            update = {
                "update_id": next(UPDATE_IDS),
                **self.bot.telegram.message_update(self.user, words),
            }
            response = await self.http.post(
                f"http://{self.bot.address}/telegram/webhook",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
            )
        else:
            event = self.bot.slack.dm(self.slack_user, words)
            response = await self.bot.slack.post_event(
                f"http://{self.bot.address}/slack/events", event
            )
        if response.status_code != 200:
            raise RuntimeError(f"{self.channel} POST answered {response.status_code}")
        arrived = await asyncio.wait_for(self.bot.inbox(self.key).get(), 60)
        return arrived - started


UPDATE_IDS = iter(range(50_000_000, 10**9))


async def customers_run(
    bot: Bot, channel: str, supply: Texts, *, customers: int, per_customer: int
) -> Run:
    async with httpx.AsyncClient(timeout=60) as http:
        people = [Customer(bot, channel, i, http) for i in range(customers)]
        await asyncio.gather(*(p.open() for p in people))

        async def talk(person: Customer) -> list[float]:
            return [await person.say(supply.take()) for _ in range(per_customer)]

        try:
            return await timed(lambda: asyncio.gather(*(talk(p) for p in people)))
        finally:
            await asyncio.gather(*(p.close() for p in people))


async def measure_bot(
    bot: Bot, channel: str, supply: Texts, args: argparse.Namespace
) -> dict[str, Any]:
    await customers_run(bot, channel, supply, customers=1, per_customer=WARM_UP_TURNS)
    many = await customers_run(
        bot, channel, supply, customers=args.customers, per_customer=args.per_customer
    )
    one = await customers_run(bot, channel, supply, customers=1, per_customer=args.single)
    return {"load": many.summary(), "single": one.summary()}


# --- the run ----------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    settings, _ = load_settings(ROOT / "config.yml")
    clients = settings.nlu.max_concurrent_parses
    args.customers = args.customers or 4 * clients
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cores": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "max_concurrent_parses": clients,
        "customers": args.customers,
        "per_customer": args.per_customer,
        "single": args.single,
    }
    rasa, kb = await start_rasa(settings)
    profiler = None
    try:
        # (a) reads every text the Rasa rows will send, so they send only confident ones.
        rasa_rows = 0 if args.stub_only else len(args.channel) * len(args.database)
        turns = args.customers * args.per_customer + args.single + WARM_UP_TURNS
        count = args.single + max(args.customers * args.per_customer, int(rasa_rows * turns / 0.8))
        one, many, supply = await bare_nlu(
            rasa, kb, settings, clients=clients, single=args.single, count=count
        )
        await rasa.stop()  # forgets the texts it read
        await rasa.start()
        await rasa.wait_ready(240)
        report["texts"] = {"read": len(supply.raw), "confident": len(supply.confident)}
        report["bare_nlu"] = {"load": many.summary(), "single": one.summary()}
        print("bare NLU:", json.dumps(report["bare_nlu"]), flush=True)
        rows: dict[str, dict[str, Any]] = {}
        async with stub_nlu(supply.raw) as stub_url:
            for kind in args.database:
                for nlu in ("stub",) if args.stub_only else ("rasa", "stub"):
                    async with database(kind) as db_url:
                        url, token = (rasa.url, rasa.token) if nlu == "rasa" else (stub_url, None)
                        async with running_bot(settings, db_url, url, token) as bot:
                            for channel in args.channel:
                                if nlu == "stub" and args.profile and profiler is None:
                                    profiler = start_profiler()
                                # The stub forgets nothing: its rows may reuse texts.
                                fresh = supply if nlu == "rasa" else Texts(supply.confident, {})
                                measured = await measure_bot(bot, channel, fresh, args)
                                rows.setdefault(f"{channel}/{kind}", {})[nlu] = measured
                                print(f"{channel}/{kind}/{nlu}:", json.dumps(measured), flush=True)
    finally:
        await rasa.stop()
        if profiler is not None:
            profiler.stop()
            write_profile(profiler, Path(args.profile))
    report["texts"]["reused"] = supply.reused
    report["rows"] = {key: ratios(report["bare_nlu"], row) for key, row in rows.items()}
    report["targets"] = targets(report)
    return report


def start_profiler() -> Any:
    # Installed for profiling sessions only, not a dependency of the project.
    profiler = importlib.import_module("pyinstrument").Profiler(
        interval=0.001, async_mode="disabled"
    )
    profiler.start()
    return profiler


def write_profile(profiler: Any, path: Path) -> None:
    """The call tree to ``path``; the functions by their own time, and by their total time
    (callees included), to ``path.self.txt`` and ``path.total.txt``."""
    path.write_text(profiler.output_text(unicode=True), encoding="utf-8")
    for mode in ("self", "total"):
        flat = profiler.output_text(unicode=True, flat=True, flat_time=mode)
        path.with_suffix(f".{mode}.txt").write_text(flat, encoding="utf-8")


def ratios(bare: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    bare_per_s = bare["load"]["per_s"]
    out: dict[str, Any] = {"bare_nlu_per_s": bare_per_s}
    if "rasa" in row:
        out["bot_per_s"] = row["rasa"]["load"]["per_s"]
        out["ratio"] = round(out["bot_per_s"] / bare_per_s, 3)
        out["bot"] = row["rasa"]
    if "stub" in row:
        out["stub_per_s"] = row["stub"]["load"]["per_s"]
        out["stub_ratio"] = round(out["stub_per_s"] / bare_per_s, 2)
        out["stub"] = row["stub"]
    return out


def targets(report: dict[str, Any]) -> dict[str, Any]:
    """Which of the three targets each row meets (None: not measured in this run)."""
    single_p99 = report["bare_nlu"]["single"]["p99_ms"]
    out = {}
    for key, row in report["rows"].items():
        out[key] = {
            "bot_at_least_80pct_of_nlu": row["ratio"] >= TARGET_RATIO if "ratio" in row else None,
            "stub_at_least_5x_nlu": (
                row["stub_ratio"] >= TARGET_STUB_FACTOR if "stub_ratio" in row else None
            ),
            "single_p99_within_nlu_p99_plus_20ms": (
                row["bot"]["single"]["p99_ms"] <= single_p99 + TARGET_P99_SLACK_MS
                if "bot" in row
                else None
            ),
        }
    return out


def table(report: dict[str, Any]) -> str:
    bare = report["bare_nlu"]
    lines = [
        f"bare NLU, {report['max_concurrent_parses']} clients: {bare['load']['per_s']}/s, "
        f"p50 {bare['load']['p50_ms']} ms, p99 {bare['load']['p99_ms']} ms; one client: "
        f"p50 {bare['single']['p50_ms']} ms, p99 {bare['single']['p99_ms']} ms",
        "",
        "| channel / database | NLU | messages/s | ratio to bare NLU | p50 ms | p99 ms "
        "| cpu ms/msg | one customer p50 / p99 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, row in report["rows"].items():
        for nlu, ratio_key in (("bot", "ratio"), ("stub", "stub_ratio")):
            if nlu not in row:
                continue
            load, single = row[nlu]["load"], row[nlu]["single"]
            lines.append(
                f"| {key} | {'Rasa' if nlu == 'bot' else 'stub'} | {load['per_s']} "
                f"| {row[ratio_key]} | {load['p50_ms']} | {load['p99_ms']} | {load['cpu_ms']} "
                f"| {single['p50_ms']} / {single['p99_ms']} |"
            )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-stub":
        serve_stub(int(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages per row")
    parser.add_argument("--customers", type=int, default=0, help="default 4 x parses")
    parser.add_argument("--per-customer", type=int, default=0)
    parser.add_argument("--single", type=int, default=0)
    parser.add_argument("--channel", action="append", choices=CHANNELS)
    parser.add_argument("--database", action="append", choices=DATABASES)
    parser.add_argument("--stub-only", action="store_true", help="skip the bot with Rasa")
    parser.add_argument("--profile", type=Path, help="pyinstrument report of the stub rows")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    args.channel = args.channel or list(CHANNELS)
    args.database = args.database or list(DATABASES)
    args.per_customer = args.per_customer or (4 if args.quick else 12)
    args.single = args.single or (20 if args.quick else 50)
    logging.basicConfig(level=logging.WARNING)
    report = asyncio.run(run(args))
    print(json.dumps(report["targets"], indent=2))
    print(table(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
