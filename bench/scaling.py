"""Messages per second with 1, 2 and 3 ``helpdesk run`` workers behind HAProxy.

    .venv/bin/python -m bench.scaling                  # stub NLU and 2 Rasa replicas, 1-3 workers
    options: --workers 1,2,3 --nlu stub,rasa --rasa-replicas 2 --customers 60 --messages 10
             --json FILE --results bench/RESULTS.md   (write the table into its "## Scaling")

The topology of ``tests/cluster`` (tests/support/cluster.py): workers started with the
project's ``helpdesk run``, one fresh PostgreSQL database per row, Redis, HAProxy
round-robin. ``--customers`` web chat customers each ask ``--messages`` FAQ questions
through HAProxy, one after the other, each waiting for the answer (a closed loop: the
workers are saturated, latency is mostly queueing).

Two NLUs, side by side: ``stub``, a table that answers ``POST /model/parse`` at once
(in this process), so the bot's own cost per message is measured; ``rasa``, real Rasa
servers (``--rasa-replicas``, the test knowledge base's model) that every worker shares.
The first row runs one worker with ``cluster.enabled`` off, the single-process baseline;
every other row has it on (advisory locks, leader, orphan sweep, Redis relay).

CPU is read from ``/proc`` for each worker and Rasa process, and for this process (the
customers' sockets and the stub): milliseconds of CPU per message answered. ``idle``: a
worker's own CPU while nobody writes (its sweeps, leader checks and relay), as a share of
one core, over five seconds after the load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import re
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bot.knowledge.loader import LiveKnowledgeBase
from bot.nlu.training import compile_project, train
from bot.settings import load_settings
from tests.faults.kill9 import QUESTIONS
from tests.support.cluster import (
    Cluster,
    RasaFleet,
    StubNlu,
    faq_intent,
    fresh_database,
    redis_url,
)

ROOT = Path(__file__).resolve().parent.parent
HEADING = "## Scaling"
TICK = os.sysconf("SC_CLK_TCK")
IDLE_S = 5.0
COLUMNS = (
    "| NLU | workers | cluster | messages | seconds | messages/s | p50 ms | p90 ms "
    "| CPU ms/msg: workers | Rasa | PostgreSQL | driver | idle CPU/worker | load |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def customer(url: str, session: str, questions: list[str], latencies: list[float]) -> None:
    """One web chat customer: a question, its answer, the next question."""
    async with connect(f"{url}/ws/chat?lang=en&session={session}", open_timeout=30) as ws:
        await _frame(ws, "history")
        for n, question in enumerate(questions):
            started = time.monotonic()
            await ws.send(json.dumps({"type": "message", "id": f"{session}-{n}", "text": question}))
            await _frame(ws, "message")
            latencies.append(time.monotonic() - started)


async def _frame(ws: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 120))
        if frame.get("type") == kind:
            return dict(frame)


def questions(n: int, count: int, salt: str) -> list[str]:
    """FAQ questions, each text new: Rasa's featurizer remembers recent texts' vectors, and
    customers seldom type the very same words."""
    return [f"{QUESTIONS[(n + i) % len(QUESTIONS)][0]} {salt}{n}x{i}" for i in range(count)]


@dataclass(frozen=True)
class Nlu:
    """What the workers parse with: its name in the table, URLs, token, its processes."""

    name: str
    urls: list[str]
    token: str | None = None
    pids: list[int] = field(default_factory=list)


def postgres_pids() -> list[int]:
    """Every PostgreSQL process (backends of other work on this machine included)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
    return pids


async def measure(
    nlu: Nlu,
    *,
    workers: int,
    cluster_mode: bool,
    round_: int,
    customers: int,
    messages: int,
) -> dict[str, Any]:
    """One row: a cluster of ``workers`` on a fresh database, warmed up, then the load."""
    async with (
        fresh_database() as database_url,
        Cluster(
            workers_count=workers,
            nlu_urls=nlu.urls,
            nlu_token=nlu.token,
            database_url=database_url,
            redis_url=redis_url(),
            cluster_mode=cluster_mode,
        ) as cluster,
    ):
        warm: list[float] = []
        tag = f"{nlu.name[:4]}{workers}{'c' if cluster_mode else 's'}"
        await asyncio.gather(
            *(
                customer(cluster.ws_url, f"warm-{tag}-{n:04d}", questions(n, 2, f"w{tag}"), warm)
                for n in range(2 * workers)
            )
        )
        worker_pids = [w.process.pid for w in cluster.workers if w.process]
        load_before = os.getloadavg()[0]
        cpu_before = [cpu_seconds(p) for p in worker_pids]
        rasa_before = [cpu_seconds(p) for p in nlu.pids]
        database = postgres_pids()
        database_before = [cpu_seconds(p) for p in database]
        own_before = own_cpu()
        latencies: list[float] = []
        started = time.monotonic()
        await asyncio.gather(
            *(
                customer(
                    cluster.ws_url,
                    f"load-{tag}-{n:04d}",
                    questions(n, messages, f"{tag}r{round_}"),
                    latencies,
                )
                for n in range(customers)
            )
        )
        seconds = time.monotonic() - started
        own = own_cpu() - own_before
        worker_cpu = sum(cpu_seconds(p) for p in worker_pids) - sum(cpu_before)
        rasa_cpu = sum(cpu_seconds(p) for p in nlu.pids) - sum(rasa_before)
        database += [p for p in postgres_pids() if p not in database]
        database_cpu = sum(cpu_seconds(p) for p in database) - sum(database_before)
        load_after = os.getloadavg()[0]
        idle_before = [cpu_seconds(p) for p in worker_pids]
        await asyncio.sleep(IDLE_S)
        idle = [cpu_seconds(p) - b for p, b in zip(worker_pids, idle_before, strict=True)]
    answered = len(latencies)
    ordered = sorted(latencies)
    return {
        "nlu": nlu.name,
        "workers": workers,
        "cluster": cluster_mode,
        "round": round_,
        "messages": answered,
        "seconds": round(seconds, 2),
        "messages_per_s": round(answered / seconds, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p90_ms": round(ordered[int(0.9 * (answered - 1))] * 1000, 1),
        "worker_cpu_ms_per_message": round(worker_cpu * 1000 / answered, 2),
        "rasa_cpu_ms_per_message": round(rasa_cpu * 1000 / answered, 2) if nlu.pids else None,
        "postgres_cpu_ms_per_message": round(database_cpu * 1000 / answered, 2),
        "driver_cpu_ms_per_message": round(own * 1000 / answered, 2),
        "idle_cpu_per_worker": round(statistics.mean(idle) / IDLE_S, 4),
        "load_average_1min": [round(load_before, 1), round(load_after, 1)],
    }


async def test_model() -> Path:
    settings, _ = load_settings(ROOT / "config.yml")
    kb = LiveKnowledgeBase(ROOT / "tests" / "fixtures" / "kb", default_language="en")
    project = compile_project(
        kb.current, pipeline=settings.nlu.pipeline, build_dir=ROOT / ".cache" / "build-test-kb"
    )
    return await train(
        project, models_dir=ROOT / ".cache" / "models", rasa_venv=ROOT / ".venv-rasa"
    )


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every row ``--rounds`` times, the rounds one after the other (so a busy minute on a
    shared machine hits every row alike); the table shows each row's median round."""
    counts = [int(n) for n in args.workers.split(",")]
    kinds = args.nlu.split(",")
    load: dict[str, int] = {"customers": args.customers, "messages": args.messages}
    reports: list[dict[str, Any]] = []
    async with contextlib.AsyncExitStack() as stack:
        nlus: list[Nlu] = []
        if "stub" in kinds:
            intents = {question: faq_intent(name) for question, name in QUESTIONS}
            stub = await stack.enter_async_context(StubNlu(intents))
            nlus.append(Nlu("stub", [stub.url]))
        if "rasa" in kinds:
            fleet = await stack.enter_async_context(
                RasaFleet(await test_model(), args.rasa_replicas)
            )
            pids = [s.pid for s in fleet.servers if s.pid]
            nlus.append(Nlu(f"Rasa ×{args.rasa_replicas}", fleet.urls, fleet.token, pids))
        rows = [(nlu, 1, False) for nlu in nlus]
        rows += [(nlu, workers, True) for nlu in nlus for workers in counts]
        rows.sort(key=lambda row: nlus.index(row[0]))
        for round_ in range(args.rounds):
            for nlu, workers, cluster_mode in rows:
                report = await measure(
                    nlu, workers=workers, cluster_mode=cluster_mode, round_=round_, **load
                )
                reports.append(report)
                print(json.dumps(report), flush=True)
    return reports


def medians(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per row (NLU, workers, cluster), the round with the median messages/s."""
    rows: dict[tuple[str, int, bool], list[dict[str, Any]]] = {}
    for report in reports:
        rows.setdefault((report["nlu"], report["workers"], report["cluster"]), []).append(report)
    chosen = []
    for rounds in rows.values():
        ranked = sorted(rounds, key=lambda r: float(r["messages_per_s"]))
        chosen.append({**ranked[(len(ranked) - 1) // 2], "rounds": len(ranked)})
    return chosen


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, {platform.system()}, Python {platform.python_version()}"


def section(reports: list[dict[str, Any]], command: str, args: argparse.Namespace) -> str:
    rows = []
    for r in medians(reports):
        idle = f"{r['idle_cpu_per_worker'] * 100:.1f}%"
        rasa = "-" if r["rasa_cpu_ms_per_message"] is None else r["rasa_cpu_ms_per_message"]
        cells = [
            r["nlu"], r["workers"], "on" if r["cluster"] else "off", r["messages"], r["seconds"],
            r["messages_per_s"], r["p50_ms"], r["p90_ms"], r["worker_cpu_ms_per_message"], rasa,
            r["postgres_cpu_ms_per_message"], r["driver_cpu_ms_per_message"], idle,
            " → ".join(str(x) for x in r["load_average_1min"]),
        ]  # fmt: skip
        rows.append("| " + " | ".join(str(c) for c in cells) + " |")
    table = "\n".join(rows)
    rounds = max((int(r["round"]) for r in reports), default=-1) + 1
    return f"""{HEADING}

`{command}`, {dt.date.today().isoformat()}, {machine()}, shared with other work (the
1-minute load average at the start and end of each row is in the table).
{args.customers} web chat customers ask {args.messages} FAQ questions each through
HAProxy (round-robin over the workers), each question after the previous answer, so the
workers are saturated. Each row is the median of {rounds} rounds (all of them in `--json`),
and each round starts a fresh PostgreSQL database and fresh workers, warms them up, then
measures. `stub`: an NLU that answers at once from a table (the bot's own cost); `Rasa ×N`:
real Rasa servers shared by every worker, every question a new text (Rasa remembers recent
texts' vectors). `cluster off`: one plain process, the baseline; `on`: advisory locks,
leader, orphan sweep and the Redis relay. CPU per message answered: the workers together,
the Rasa servers together, every PostgreSQL process on the machine (other work's
included) and this benchmark's own process (the customers' sockets and the stub NLU).
`idle`: one worker's CPU with nobody writing, as a share of one core.

{COLUMNS}
{table}

{outlook(medians(reports))}
"""


def outlook(rows: list[dict[str, Any]]) -> str:
    """What the measured costs mean on a machine with a free core per process."""
    stub = [r for r in rows if r["nlu"] == "stub"]
    rasa = [r for r in rows if r["rasa_cpu_ms_per_message"] is not None]
    if not stub:
        return ""
    one = min(stub, key=lambda r: (r["workers"], r["cluster"]))
    most = max(stub, key=lambda r: (r["workers"], r["cluster"]))
    worker_ms = float(one["worker_cpu_ms_per_message"])
    text = (
        f"On these two shared cores every process competes for the same CPU (the workers, "
        f"PostgreSQL, the Rasa servers and this benchmark's sockets), so more workers cannot "
        f"raise messages/s here; the shape is flat and messages/s swings with the machine's "
        f"load. What more workers cost shows in CPU per message: {worker_ms} ms with one "
        f"plain worker, {most['worker_cpu_ms_per_message']} ms across {most['workers']} "
        f"clustered workers (the cluster's own work, and more processes than cores: "
        f"not told apart here). A worker is one Python process, at most one core: on a "
        f"machine with a core for each, expect about {1000 / worker_ms:.0f} messages/s per "
        f"worker (1000 / its "
        f"CPU ms per message), growing close to linearly with workers until PostgreSQL "
        f"(about {one['postgres_cpu_ms_per_message']} ms of CPU per message here) or the "
        f"NLU is the limit."
    )
    if rasa:
        rasa_ms = float(statistics.median(float(r["rasa_cpu_ms_per_message"]) for r in rasa))
        text += (
            f" With real Rasa the NLU is that limit first: a parse of a new text costs "
            f"about {rasa_ms:.0f} ms of Rasa CPU, about {1000 / rasa_ms:.0f} parses/s per "
            f"replica core, so plan about {worker_ms and rasa_ms / worker_ms:.1f} Rasa "
            f"replica cores per busy worker core."
        )
    return text


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
    parser.add_argument("--workers", default="1,2,3", help="comma-separated worker counts")
    parser.add_argument("--nlu", default="stub,rasa", help="stub, rasa or both (comma-separated)")
    parser.add_argument("--rasa-replicas", type=int, default=2)
    parser.add_argument("--customers", type=int, default=60)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="each row this many times")
    parser.add_argument("--json", type=Path, help="write the rows as JSON to this file")
    parser.add_argument("--results", type=Path, help="update this file's Scaling section")
    args = parser.parse_args()
    reports = asyncio.run(run(args))
    command = " ".join([".venv/bin/python -m bench.scaling", *sys.argv[1:]])
    text = section(reports, command, args)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(reports, indent=2) + "\n", encoding="utf-8")
    if args.results:
        write_section(args.results, text)


if __name__ == "__main__":
    main()
