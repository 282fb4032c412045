"""Tickets REST API latency under a simple load from a second process on 127.0.0.1.

    .venv/bin/python bench/api_latency.py [--seconds 20] [--clients 8] [--seed 2000]
                                          [--database-url URL] [--write]

What runs: this script starts the API server as a child process (``serve`` mode: the
real Starlette app with TicketApi and TicketService, uvicorn, one worker) on a fresh
SQLite file (or the PostgreSQL database given), seeded with ``--seed`` tickets and one
API token. The parent process is the load: ``--clients`` concurrent keep-alive HTTP
clients (httpx), each looping over a fixed mix for ``--seconds``:

    list (GET /tickets?per_page=25, every 3rd with a search) 40 %,
    get (GET /tickets/{ref}) 30 %, create (POST /tickets) 10 %,
    update (PATCH priority) 10 %, comment (POST internal note) 10 %.

Measured per request: wall time from send to full response in the load process.
``--write`` replaces the ``## Tickets API`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MIX = ["list"] * 4 + ["get"] * 3 + ["create", "update", "comment"]


async def serve(url: str, port: int, seed: int) -> None:
    import uvicorn
    from starlette.applications import Starlette

    from bot.i18n import Catalogue
    from bot.storage.api_tokens import ApiTokenRepository
    from bot.storage.database import Database
    from bot.storage.migrate import upgrade_async
    from bot.tickets.business_hours import BusinessHours
    from bot.tickets.rules import TicketPolicy
    from bot.tickets.service import TicketService
    from bot.tickets.sla import SlaPolicy, Target
    from bot.web.api import TicketApi

    class NoCustomers:
        async def store_outbound(self, *args: Any, **kwargs: Any) -> list[int]:
            return []

        async def deliver(self, row_ids: Any) -> int:
            return 0

    await upgrade_async(url)
    db = Database(url)
    async with db.transaction() as session:
        token, _ = await ApiTokenRepository(session).add("bench")
    hours = BusinessHours.parse(timezone="Asia/Kolkata", weekly={"mon-fri": "09:00-18:00"})
    targets = {
        name: Target(timedelta(hours=h), timedelta(hours=h * 5))
        for name, h in (("low", 24), ("normal", 8), ("high", 4), ("urgent", 1))
    }
    service = TicketService(
        db=db,
        line=NoCustomers(),
        catalogue=Catalogue.load(default_language="en"),
        brand="VoltCart",
        policy=TicketPolicy(SlaPolicy(hours, targets), timedelta(hours=72)),
    )
    words = ["refund", "blender", "invoice", "login", "parcel", "warranty", "charger", "app"]
    rng = random.Random(1)
    for n in range(seed):
        await service.create(
            subject=f"{rng.choice(words)} problem {n}",
            description=" ".join(rng.choices(words, k=30)),
            priority=rng.choice(["low", "normal", "high", "urgent"]),
            actor="seed",
        )
    app = Starlette()
    TicketApi(service).install(app)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no started event)
        await asyncio.sleep(0.05)
    print(json.dumps({"token": token}), flush=True)
    await task


async def client_loop(
    http: httpx.AsyncClient, until: float, seed: int, samples: dict[str, list[float]], ids: Any
) -> None:
    rng = random.Random(seed)
    while time.perf_counter() < until:
        op = rng.choice(MIX)
        ref = f"HD-{1001 + rng.randrange(seed_count(ids))}"
        start = time.perf_counter()
        if op == "list":
            params = {"per_page": "25"}
            if next(ids["list"]) % 3 == 0:
                params["q"] = rng.choice(["refund", "login", "parcel"])
            response = await http.get("/api/v1/tickets", params=params)
        elif op == "get":
            response = await http.get(f"/api/v1/tickets/{ref}")
        elif op == "create":
            body = {"subject": "Bench ticket", "description": "load", "priority": "normal"}
            response = await http.post("/api/v1/tickets", json=body)
        elif op == "update":
            body = {"priority": rng.choice(["low", "normal", "high", "urgent"])}
            response = await http.patch(f"/api/v1/tickets/{ref}", json=body)
        else:
            response = await http.post(f"/api/v1/tickets/{ref}/comments", json={"text": "note"})
        elapsed = (time.perf_counter() - start) * 1000
        if response.status_code >= 400:
            raise RuntimeError(f"{op} {ref}: {response.status_code} {response.text[:200]}")
        samples[op].append(elapsed)


def seed_count(ids: Any) -> int:
    return int(ids["seed"])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def load(args: argparse.Namespace) -> dict[str, Any]:
    from bot.nlu.rasa_server import free_port

    port = free_port()
    scratch = Path(tempfile.mkdtemp(prefix="api-bench-"))
    url = args.database_url or f"sqlite+aiosqlite:///{scratch / 'bench.db'}"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "serve",
        "--port",
        str(port),
        "--seed",
        str(args.seed),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "BENCH_DB_URL": url},
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), 300)
        token = json.loads(line)["token"]
        samples: dict[str, list[float]] = {op: [] for op in set(MIX)}
        headers = {"Authorization": f"Bearer {token}"}
        limits = httpx.Limits(max_connections=args.clients)
        ids = {"list": itertools.count(), "seed": args.seed}
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=headers, limits=limits, timeout=30
        ) as http:
            await http.get("/api/v1/tickets")  # warm up
            started = time.perf_counter()
            until = started + args.seconds
            await asyncio.gather(
                *(client_loop(http, until, n, samples, ids) for n in range(args.clients))
            )
            wall = time.perf_counter() - started
    finally:
        child.terminate()
        await asyncio.wait_for(child.wait(), 10)
    everything = [v for values in samples.values() for v in values]
    return {
        "database": "PostgreSQL" if url.startswith("postgresql") else "SQLite",
        "clients": args.clients,
        "seconds": round(wall, 1),
        "seed": args.seed,
        "requests": len(everything),
        "rps": round(len(everything) / wall, 1),
        "all": (round(statistics.median(everything), 1), round(pct(everything, 0.99), 1)),
        "ops": {
            op: (len(v), round(statistics.median(v), 1), round(pct(v, 0.99), 1))
            for op, v in sorted(samples.items())
        },
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}",
    }


def render(result: dict[str, Any], command: str) -> str:
    lines = [
        "## Tickets API",
        "",
        f"`{command}` — {result['database']}, {result['seed']} seeded tickets, "
        f"{result['clients']} concurrent keep-alive clients in a second process for "
        f"{result['seconds']} s on 127.0.0.1 ({result['machine']}); the server is one "
        "uvicorn worker. Wall time per request in the load process:",
        "",
        "| operation | requests | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
    ]
    for op, (n, p50, p99) in result["ops"].items():
        lines.append(f"| {op} | {n} | {p50} | {p99} |")
    p50, p99 = result["all"]
    lines += [
        f"| **all** | {result['requests']} | {p50} | {p99} |",
        "",
        f"Throughput: {result['rps']} requests/s.",
        "",
    ]
    return "\n".join(lines)


def write(section: str) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(r"## Tickets API\n.*?(?=\n## |\Z)", re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(section.rstrip("\n") + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", nargs="?", default="load", choices=["load", "serve"])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seed", type=int, default=2000)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--database-url")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if args.mode == "serve":
        asyncio.run(serve(os.environ["BENCH_DB_URL"], args.port, args.seed))
        return
    result = asyncio.run(load(args))
    command = "python " + " ".join(["bench/api_latency.py", *sys.argv[1:]])
    section = render(result, command.replace(" --write", ""))
    print(section)
    if args.write:
        write(section)


if __name__ == "__main__":
    main()
