"""Several ``helpdesk run`` workers behind HAProxy, with Rasa servers, all on 127.0.0.1.

The topology of a scaled-out deployment, with real processes::

    async with fresh_database() as database_url, FakeTelegram() as telegram, FakeSlack() as slack:
        async with RasaFleet(model, count=2) as rasa:
            async with Cluster(
                workers=3, nlu_urls=rasa.urls, nlu_token=rasa.token,
                database_url=database_url, redis_url=redis_url(), telegram=telegram, slack=slack,
            ) as cluster:
                cluster.url                  # HAProxy, round-robin over the workers
                cluster.workers[0].url       # one worker, directly
                await cluster.kill(1)        # SIGKILL, as a crash or the OOM killer would
                await cluster.restart(1)

Each worker is the project's own ``helpdesk`` entry point with its own ``HELPDESK_WEB__PORT``,
the shared PostgreSQL database (migrated once, before the workers start: the workers do not
migrate) and Redis database, Telegram in webhook mode and Slack on HTTP events pointing at the
fake platform servers, secrets in the environment. HAProxy balances every request (and every
web chat or console WebSocket) round-robin and drops a worker whose ``/healthz`` fails.

:class:`StubNlu` answers ``POST /model/parse`` at once from a fixed table, so a benchmark
measures the bot's own cost. Everything started here is stopped on the way out; workers and
Rasa servers also die with the process that started them (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import os
import secrets
import signal
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.nlu.client import RASA_FAQ_PREFIX
from bot.nlu.rasa_server import RasaSupervisor, _die_with_parent, free_port
from bot.storage.migrate import upgrade_async
from tests.support.fake_slack import FakeSlack
from tests.support.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]
HELPDESK = ROOT / ".venv" / "bin" / "helpdesk"
HAPROXY = Path("/usr/sbin/haproxy")
TEST_KB = ROOT / "tests" / "fixtures" / "kb"
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379"
TELEGRAM_WEBHOOK_SECRET = "cluster-webhook-secret"
CONSOLE_SECRET_KEY = "cluster-console-key-cluster-console-key"
# Variables of the caller's environment that would change what a worker does.
_OURS = ("HELPDESK_", "TELEGRAM_", "SLACK_", "DATABASE_URL", "REDIS_URL", "RASA_TOKEN")


# --- shared services ---------------------------------------------------------------------


@asynccontextmanager
async def fresh_database(base: str | None = None) -> AsyncIterator[str]:
    """A new PostgreSQL database, migrated to head (the cluster's one-shot migration);
    dropped on the way out, whoever still holds a connection."""
    admin = make_url(base or os.environ.get("TEST_DATABASE_URL", DEFAULT_PG))
    name = f"helpdesk_cluster_{uuid.uuid4().hex[:10]}"

    async def execute(sql: str) -> None:
        engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(sql))
        finally:
            await engine.dispose()

    await execute(f'CREATE DATABASE "{name}"')
    url = admin.set(database=name).render_as_string(hide_password=False)
    try:
        await upgrade_async(url)
        yield url
    finally:
        await execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redis_url(db: int | None = None) -> str:
    """A Redis database for one run: ``REDIS_URL`` with its number replaced, or 127.0.0.1.

    Without ``db``, a number from 1 to 15 picked by the process id, so two runs at once
    (a test and a benchmark) rarely share one.
    """
    base = os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS).rstrip("/")
    host = base.rsplit("/", 1)[0] if base.count("/") > 2 else base
    return f"{host}/{db if db is not None else 1 + os.getpid() % 15}"


# --- NLU -----------------------------------------------------------------------------------


class RasaFleet:
    """``count`` real Rasa servers (``rasa run --enable-api``) serving one model, one token.

    Each is a :class:`RasaSupervisor`: killed, it is started again after a short backoff,
    as a process manager would. ``token`` lets a fleet join a server started elsewhere.
    """

    def __init__(
        self,
        model: Path,
        count: int,
        *,
        token: str | None = None,
        log_dir: Path = ROOT / ".cache" / "cluster",
        ready_within: float = 300.0,
    ) -> None:
        self.token = token or secrets.token_hex(24)
        self.servers: list[RasaSupervisor] = []
        for n in range(count):
            server = RasaSupervisor(
                rasa_venv=ROOT / ".venv-rasa",
                model=model,
                log_file=log_dir / f"rasa-{os.getpid()}-{n}.log",
            )
            server.token = self.token  # one token for every replica: the workers have one
            self.servers.append(server)
        self.ready_within = ready_within

    @property
    def urls(self) -> list[str]:
        return [server.url for server in self.servers]

    async def __aenter__(self) -> RasaFleet:
        try:
            for server in self.servers:
                await server.start()
            await asyncio.gather(*(s.wait_ready(self.ready_within) for s in self.servers))
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def kill(self, index: int) -> None:
        """SIGKILL one server; its supervisor starts it again after a backoff."""
        self.servers[index].kill()

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.servers), return_exceptions=True)


class StubNlu:
    """A Rasa stand-in answering at once: ``POST /model/parse`` from a fixed table.

    A text that starts with a known one (lower case, trailing punctuation ignored) gets
    its intent with confidence 0.99; anything else is ``out_of_scope``. ``GET /status``
    reports a model, so the workers count as ready. It runs in the caller's event loop.
    """

    def __init__(self, intents: Mapping[str, str]) -> None:
        self.intents = {_normal(k): v for k, v in intents.items()}
        self.parses = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> StubNlu:
        app = web.Application()
        app.router.add_post("/model/parse", self._parse)
        app.router.add_get("/status", self._status)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _status(self, _: web.Request) -> web.Response:
        return web.json_response({"model_file": "stub.tar.gz", "num_active_training_jobs": 0})

    async def _parse(self, request: web.Request) -> web.Response:
        self.parses += 1
        text_ = str((await request.json()).get("text", ""))
        normal = _normal(text_)
        name = self.intents.get(normal) or next(
            (v for k, v in self.intents.items() if normal.startswith(k)), None
        )
        if name is None:
            intent = {"name": "out_of_scope", "confidence": 0.9}
            ranking = [intent, {"name": f"{RASA_FAQ_PREFIX}order_status", "confidence": 0.05}]
        else:
            intent = {"name": name, "confidence": 0.99}
            ranking = [intent, {"name": "out_of_scope", "confidence": 0.01}]
        body = {"text": text_, "intent": intent, "intent_ranking": ranking, "entities": []}
        return web.json_response(body)


def _normal(text_: str) -> str:
    return text_.strip().lower().rstrip("?!. ")


def faq_intent(name: str) -> str:
    """The Rasa intent name of an FAQ entry (what a real server answers for it)."""
    return f"{RASA_FAQ_PREFIX}{name}"


# --- workers -------------------------------------------------------------------------------


@dataclass
class Worker:
    """One ``helpdesk run`` process."""

    index: int
    port: int
    env: dict[str, str]
    log_file: Path
    process: asyncio.subprocess.Process | None = None
    kills: int = 0
    pids: list[int] = field(default_factory=list)
    """Every process id this worker ever had (for the no-stray-processes check)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as sink:
            self.process = await asyncio.create_subprocess_exec(
                str(HELPDESK),
                "run",
                cwd=ROOT,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=sink,
                stderr=asyncio.subprocess.STDOUT,
                preexec_fn=_die_with_parent(),
            )
        self.pids.append(self.process.pid)

    async def wait_ready(self, within: float = 120.0) -> None:
        """Until ``/healthz`` says ready (200): its NLU answers and its channels run."""
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2) as probe:
            while time.monotonic() < deadline:
                if self.process is None or self.process.returncode is not None:
                    code = self.process.returncode if self.process else None
                    raise RuntimeError(
                        f"worker {self.index} exited with {code}; see {self.log_file}:\n"
                        + tail(self.log_file)
                    )
                with contextlib.suppress(httpx.TransportError):
                    if (await probe.get(f"{self.url}/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise TimeoutError(
            f"worker {self.index} not ready within {within:.0f} s:\n" + tail(self.log_file)
        )

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, its database sessions end with it."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()
            self.kills += 1

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _base_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}


# --- HAProxy -------------------------------------------------------------------------------


class Haproxy:
    """HAProxy in front of the workers: round-robin per request, WebSockets tunnelled,
    a worker whose ``/healthz`` fails twice taken out (every 500 ms), a request refused by
    a dead worker sent to another. A stats page (CSV) counts requests per worker."""

    def __init__(self, worker_ports: Sequence[int], *, work_dir: Path) -> None:
        self.port = free_port()
        self.stats_port = free_port()
        self.worker_ports = list(worker_ports)
        self.config = work_dir / "haproxy.cfg"
        self.log_file = work_dir / "haproxy.log"
        self.process: asyncio.subprocess.Process | None = None

    def render(self) -> str:
        servers = "\n".join(
            f"    server w{n + 1} 127.0.0.1:{port} check"
            for n, port in enumerate(self.worker_ports)
        )
        return f"""\
global
    maxconn 4096

defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout tunnel 1h
    timeout http-request 10s
    option redispatch
    retries 3

frontend public
    bind 127.0.0.1:{self.port}
    default_backend workers

listen stats
    bind 127.0.0.1:{self.stats_port}
    stats enable
    stats uri /stats

backend workers
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server inter 500ms fastinter 250ms downinter 500ms fall 2 rise 1
{servers}
"""

    async def start(self) -> None:
        if not HAPROXY.exists():
            raise RuntimeError(f"{HAPROXY} is missing: run `make system-packages` as root")
        self.config.parent.mkdir(parents=True, exist_ok=True)
        self.config.write_text(self.render(), encoding="utf-8")
        with self.log_file.open("ab") as sink:
            self.process = await asyncio.create_subprocess_exec(
                str(HAPROXY),
                "-db",  # foreground: it is our child, stopped by us
                "-f",
                str(self.config),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=sink,
                stderr=asyncio.subprocess.STDOUT,
                preexec_fn=_die_with_parent(),
            )
        async with httpx.AsyncClient(timeout=2) as probe:
            for _ in range(100):
                if self.process.returncode is not None:
                    raise RuntimeError("haproxy exited:\n" + tail(self.log_file))
                with contextlib.suppress(httpx.TransportError):
                    await probe.get(f"http://127.0.0.1:{self.stats_port}/stats")
                    return
                await asyncio.sleep(0.05)
        raise TimeoutError("haproxy did not listen:\n" + tail(self.log_file))

    async def stats(self) -> dict[str, dict[str, str]]:
        """Per worker (``w1``…): HAProxy's counters (``stot`` requests, ``status`` UP/DOWN)."""
        async with httpx.AsyncClient(timeout=5) as client:
            body = (await client.get(f"http://127.0.0.1:{self.stats_port}/stats;csv")).text
        rows = csv.DictReader(io.StringIO(body.lstrip("# ")))
        return {
            row["svname"]: dict(row)
            for row in rows
            if row["pxname"] == "workers" and row["svname"].startswith("w")
        }

    async def wait_up(self, count: int, within: float = 30.0) -> None:
        """Until ``count`` workers pass HAProxy's health check."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            stats = await self.stats()
            if sum(1 for row in stats.values() if row["status"].startswith("UP")) >= count:
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"haproxy does not see {count} workers up: {await self.stats()}")

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


# --- the cluster ---------------------------------------------------------------------------


@dataclass
class Cluster:
    """``workers`` ``helpdesk run`` processes behind HAProxy; an async context manager."""

    workers_count: int
    nlu_urls: Sequence[str]
    nlu_token: str | None
    database_url: str
    redis_url: str
    telegram: FakeTelegram | None = None
    slack: FakeSlack | None = None
    cluster_mode: bool = True
    settings: Mapping[str, str] = field(default_factory=dict)
    """More ``HELPDESK_…`` variables for every worker (tiny SLA targets, a sweep period)."""
    work_dir: Path = field(
        default_factory=lambda: ROOT / ".cache" / "cluster" / uuid.uuid4().hex[:8]
    )
    ready_within: float = 120.0
    workers: list[Worker] = field(default_factory=list)
    haproxy: Haproxy | None = None

    @property
    def url(self) -> str:
        """The public address: HAProxy."""
        assert self.haproxy is not None
        return f"http://127.0.0.1:{self.haproxy.port}"

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1)

    async def __aenter__(self) -> Cluster:
        ports = [free_port() for _ in range(self.workers_count)]
        self.haproxy = Haproxy(ports, work_dir=self.work_dir)
        self.workers = [
            Worker(
                index=n,
                port=port,
                env=self.environment(n, port),
                log_file=self.work_dir / f"worker-{n + 1}.log",
            )
            for n, port in enumerate(ports)
        ]
        try:
            await self.haproxy.start()
            for worker in self.workers:
                await worker.start()
            await asyncio.gather(*(w.wait_ready(self.ready_within) for w in self.workers))
            await self.haproxy.wait_up(self.workers_count)
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def environment(self, index: int, port: int) -> dict[str, str]:
        """One worker's environment: settings as ``HELPDESK_…`` variables, secrets as theirs."""
        assert self.haproxy is not None
        env = {
            **_base_environment(),
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": self.database_url,
            "HELPDESK_DATABASE__AUTO_MIGRATE": "false",  # migrated once, before the workers
            "HELPDESK_WEB__HOST": "127.0.0.1",
            "HELPDESK_WEB__PORT": str(port),
            "HELPDESK_NLU__URL": ",".join(self.nlu_urls),
            "HELPDESK_KNOWLEDGE_BASE__PATH": str(TEST_KB),
            "HELPDESK_ADMIN__WATCH_KNOWLEDGE_BASE": "false",
            "HELPDESK_LOG_LEVEL": "WARNING",
            "CONSOLE_SECRET_KEY": CONSOLE_SECRET_KEY,
        }
        if self.nlu_token:
            env["RASA_TOKEN"] = self.nlu_token
        if self.cluster_mode:
            env |= {
                "HELPDESK_CLUSTER__ENABLED": "true",
                "HELPDESK_CLUSTER__WORKER_ID": f"worker-{index + 1}",
                "REDIS_URL": self.redis_url,
            }
        if self.telegram is not None:
            env |= {
                "TELEGRAM_BOT_TOKEN": self.telegram.token,
                "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_WEBHOOK_SECRET,
                "HELPDESK_CHANNELS__TELEGRAM__MODE": "webhook",
                "HELPDESK_CHANNELS__TELEGRAM__BASE_URL": self.telegram.base_url,
                "HELPDESK_CHANNELS__TELEGRAM__BASE_FILE_URL": self.telegram.base_file_url,
                # Telegram posts to the public address: any worker may get any update.
                "HELPDESK_CHANNELS__TELEGRAM__WEBHOOK_URL": (
                    f"http://127.0.0.1:{self.haproxy.port}/telegram/webhook"
                ),
            }
        else:
            env["HELPDESK_CHANNELS__TELEGRAM__ENABLED"] = "false"
        if self.slack is not None:
            env |= {
                "SLACK_BOT_TOKEN": self.slack.bot_token,
                "SLACK_SIGNING_SECRET": self.slack.signing_secret,
                "HELPDESK_CHANNELS__SLACK__MODE": "http",
                "HELPDESK_CHANNELS__SLACK__BASE_URL": self.slack.base_url,
            }
        else:
            env["HELPDESK_CHANNELS__SLACK__ENABLED"] = "false"
        return env | dict(self.settings)

    async def kill(self, index: int) -> None:
        """SIGKILL one worker, as a crash or the OOM killer would."""
        await self.workers[index].kill()

    async def restart(self, index: int) -> None:
        """Start a killed (or stopped) worker again on its port; back in HAProxy once ready."""
        worker = self.workers[index]
        await worker.stop()
        await worker.start()
        await worker.wait_ready(self.ready_within)
        assert self.haproxy is not None
        await self.haproxy.wait_up(sum(1 for w in self.workers if w.running))

    async def requests_per_worker(self) -> list[int]:
        """How many requests (and WebSocket sessions) HAProxy gave each worker so far."""
        assert self.haproxy is not None
        stats = await self.haproxy.stats()
        return [int(stats[f"w{n + 1}"]["stot"] or 0) for n in range(len(self.workers))]

    @property
    def pids(self) -> list[int]:
        """Every process this cluster started: workers (each life) and HAProxy."""
        pids = [pid for worker in self.workers for pid in worker.pids]
        if self.haproxy is not None and self.haproxy.process is not None:
            pids.append(self.haproxy.process.pid)
        return pids

    async def stop(self) -> None:
        await asyncio.gather(*(w.stop() for w in self.workers), return_exceptions=True)
        if self.haproxy is not None:
            await self.haproxy.stop()


def alive(pids: Sequence[int]) -> list[int]:
    """Which of ``pids`` still run (a zombie counts as gone): none, after a clean stop."""
    running = []
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] != "Z":
                running.append(pid)
    return running
