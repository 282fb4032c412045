"""What a customer's file costs: uploading it, and an agent fetching it, per database.

    .venv/bin/python bench/webchat_uploads.py [--rounds N] [--megabytes M] [--pg URL]

The whole web app (web chat and console, the tests' scripted NLU and desk) on a port of
127.0.0.1, a fresh SQLite file and a fresh PostgreSQL database (created and dropped on
the server at ``--pg``, default the tests' ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``).
Each round: ``POST /webchat/upload`` with a PDF of ``M`` MiB (a PDF is stored as sent, so
every byte reaches the database), then a logged-in agent's ``GET /console/files/<id>``.
Medians and minimums of the wall time seen by the client.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.channels.webchat import WebChatChannel
from bot.channels.webchat_uploads import UploadLimits
from bot.storage.database import Database
from bot.storage.migrate import upgrade_async
from bot.tickets.business_hours import BusinessHours
from tests.support import files
from tests.support.console import PASSWORD, AgentClient, serve_console
from tests.support.desk import WallClock, make_rig, test_policy

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


async def measure(url: str, *, rounds: int, body: bytes) -> tuple[list[float], list[float]]:
    await upgrade_async(url)
    db = Database(url)
    limits = UploadLimits(max_bytes=len(body), per_hour=rounds + 1)
    rig = await make_rig(
        db,
        channel=WebChatChannel(uploads=limits),
        clock=WallClock(),
        policy=test_policy(hours=BusinessHours.always()),
    )
    await rig.add_agent("bench", password=PASSWORD)
    uploads: list[float] = []
    fetches: list[float] = []
    async with serve_console(rig, webchat=rig.channel) as base:
        agent = AgentClient(base)
        await agent.login("bench")
        async with httpx.AsyncClient(base_url=base, timeout=120) as http:
            for i in range(rounds):
                start = time.perf_counter()
                sent = await http.post(
                    f"/webchat/upload?session=bench-{i:06d}",
                    content=body,
                    headers={"Origin": base, "X-File-Name": "bench.pdf"},
                )
                uploads.append(time.perf_counter() - start)
                assert sent.status_code == 201, sent.text
                start = time.perf_counter()
                got = await agent.http.get(f"/console/files/{sent.json()['id']}")
                fetches.append(time.perf_counter() - start)
                assert got.content == body
        await agent.close()
    await db.dispose()
    return uploads, fetches


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--megabytes", type=float, default=10)
    parser.add_argument("--pg", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_PG))
    args = parser.parse_args()
    size = int(args.megabytes * 1024 * 1024)
    body = files.PDF + os.urandom(size - len(files.PDF))
    results: dict[str, tuple[list[float], list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = f"sqlite+aiosqlite:///{tmp}/bench.db"
        results["SQLite"] = await measure(sqlite, rounds=args.rounds, body=body)
    admin = make_url(args.pg)
    name = f"helpdesk_bench_{uuid.uuid4().hex[:8]}"
    engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = admin.set(database=name).render_as_string(hide_password=False)
        results["PostgreSQL"] = await measure(url, rounds=args.rounds, body=body)
    finally:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await engine.dispose()
    print(f"{args.megabytes:g} MiB, {args.rounds} rounds: median (min) ms")
    for label, (uploads, fetches) in results.items():
        up, get = statistics.median(uploads) * 1000, statistics.median(fetches) * 1000
        print(
            f"{label:<11} upload {up:6.0f} ({min(uploads) * 1000:.0f})"
            f"   agent GET {get:6.0f} ({min(fetches) * 1000:.0f})"
        )


if __name__ == "__main__":
    asyncio.run(main())
