"""How long from a customer's message to its appearance in an agent's open console?

    .venv/bin/python bench/console_latency.py [--messages 200] [--database-url URL] [--write]

What runs: the real web app on 127.0.0.1 (uvicorn): web chat channel, engine, agent
desk and console, on a fresh SQLite file (or the PostgreSQL database given). A customer
connects to the web chat socket as the widget does and asks for a person; an agent logs
in to the console in a real Chromium (Debian's, through Playwright), claims the chat and
keeps its page open. Then the customer sends N messages, one at a time.

Measured per message, from just before the customer's socket sends the frame:
- ``console page``: until the message's element is in the agent page's DOM (a
  MutationObserver on the transcript calls back into this process through Playwright,
  which adds its own round trip of about a millisecond);
- ``console socket``: until a second agent connection (a plain WebSocket client, no
  browser) receives the desk event.

The NLU is a stub that is never called: while an agent has the chat, messages are
relayed, not parsed. ``--write`` replaces the ``## Agent console`` section of
bench/RESULTS.md with the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import uvicorn
import websockets
from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.channels import ChannelRegistry  # noqa: E402
from bot.channels.webchat import WebChatChannel  # noqa: E402
from bot.desk.accounts import hash_password  # noqa: E402
from bot.desk.policy import HandoffPolicy  # noqa: E402
from bot.desk.service import Desk  # noqa: E402
from bot.engine.pipeline import Engine, EngineOptions  # noqa: E402
from bot.i18n import Catalogue  # noqa: E402
from bot.knowledge.loader import LiveKnowledgeBase  # noqa: E402
from bot.nlu.client import ParseResult  # noqa: E402
from bot.nlu.decision import Thresholds  # noqa: E402
from bot.nlu.rasa_server import free_port  # noqa: E402
from bot.storage.database import Database  # noqa: E402
from bot.storage.migrate import upgrade_async  # noqa: E402
from bot.storage.repositories import AgentRepository  # noqa: E402
from bot.tickets.business_hours import BusinessHours  # noqa: E402
from bot.web.app import create_web_app  # noqa: E402
from bot.web.console import Console  # noqa: E402
from bot.web.console.auth import Sessions  # noqa: E402

PASSWORD = "bench-password-123"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## Agent console"


class UnusedNlu:
    async def parse(self, text: str) -> ParseResult:
        raise AssertionError("a relayed message must not reach the NLU")

    async def ready(self) -> bool:
        return True

    async def close(self) -> None:
        return None


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 0.50),
        "p95": percentile(values, 0.95),
        "p99": percentile(values, 0.99),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


async def build(db_url: str) -> tuple[Any, Engine, Desk]:
    await upgrade_async(db_url)
    db = Database(db_url)
    webchat = WebChatChannel()
    registry = ChannelRegistry()
    registry.add(webchat)
    engine = Engine(
        db=db,
        nlu=UnusedNlu(),
        kb=LiveKnowledgeBase(ROOT / "tests" / "fixtures" / "kb", default_language="en"),
        catalogue=Catalogue.load(default_language="en"),
        channels=registry,
        options=EngineOptions(
            brand="VoltCart",
            default_language="en",
            languages=("en", "gu", "te", "ka", "hi"),
            thresholds=Thresholds(confidence=0.55),
            low_confidence_turns=2,
        ),
    )
    desk = Desk(
        db=db,
        line=engine,
        catalogue=engine.catalogue,
        brand="VoltCart",
        policy=HandoffPolicy(
            hours=BusinessHours.always(),
            queue_timeout=timedelta(hours=1),
            presence_timeout=timedelta(minutes=5),
        ),
    )
    engine.connect(desk=desk)
    await webchat.start(engine.receive)
    sessions = Sessions(
        db=db, secret_key=uuid.uuid4().hex, lifetime=timedelta(hours=1), clock=desk.clock
    )
    console = Console(desk=desk, sessions=sessions)

    async def readiness() -> dict[str, object]:
        return {"ready": True}

    app = create_web_app(engine=engine, webchat=webchat, readiness=readiness, console=console)
    async with db.transaction() as session:
        agent = await AgentRepository(session).add(name="priya", languages=["en"], max_chats=5)
        await AgentRepository(session).set_password_hash(agent, hash_password(PASSWORD))
    return app, engine, desk


async def run(messages: int, db_url: str) -> dict[str, Any]:
    app, engine, _ = await build(db_url)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no "started" event)
        await asyncio.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = await browser.new_page()
            await page.goto(f"{base}/console/login")
            await page.fill('input[name="name"]', "priya")
            await page.fill('input[name="password"]', PASSWORD)
            await page.click('button[type="submit"]')
            await page.wait_for_url(f"{base}/console/")

            session_id = uuid.uuid4().hex
            customer = await websockets.connect(
                f"ws://127.0.0.1:{port}/ws/chat?session={session_id}"
            )
            await customer.recv()  # history
            await customer.send(json.dumps({"type": "message", "id": "h1", "text": "/human"}))
            claim = page.locator("#queue .chat button.claim")
            await claim.first.wait_for(timeout=10_000)
            await claim.first.click()
            await page.wait_for_selector("#conv-state:text('agent')")
            await page.wait_for_selector("#live-status.live")

            seen: dict[str, float] = {}
            waiters: dict[str, asyncio.Future[float]] = {}

            def on_seen(_: Any, text: str) -> None:
                now = time.perf_counter()
                seen[text] = now
                future = waiters.get(text)
                if future is not None and not future.done():
                    future.set_result(now)

            await page.expose_binding("__seen", on_seen)
            await page.evaluate(
                """() => new MutationObserver((records) => {
                    for (const record of records) for (const node of record.addedNodes) {
                      if (!(node instanceof Element)) continue;
                      const items = node.matches('.msg-in')
                        ? [node] : node.querySelectorAll('.msg-in');
                      for (const item of items) {
                        const text = item.querySelector('.text');
                        if (text) window.__seen(text.textContent);
                      }
                    }
                  }).observe(document.body, {childList: true, subtree: true})"""
            )

            cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
            socket_seen: dict[str, asyncio.Future[float]] = {}
            agent_socket = await websockets.connect(
                f"ws://127.0.0.1:{port}/console/ws",
                origin=base,  # type: ignore[arg-type]
                additional_headers={"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())},
            )

            kinds: dict[str, int] = {}
            subscribed = asyncio.Event()

            async def listen() -> None:
                async for raw in agent_socket:
                    event = json.loads(raw)
                    kinds[event.get("kind", "?")] = kinds.get(event.get("kind", "?"), 0) + 1
                    if event.get("kind") == "hello":  # the server has subscribed this socket
                        subscribed.set()
                    if event.get("kind") == "message":
                        text = event["message"]["text"]
                        future = socket_seen.get(text)
                        if future is not None and not future.done():
                            future.set_result(time.perf_counter())

            listener = asyncio.create_task(listen())
            await asyncio.wait_for(subscribed.wait(), 10)

            async def drain_customer() -> None:
                async for _ in customer:
                    pass

            draining = asyncio.create_task(drain_customer())
            loop = asyncio.get_running_loop()
            page_ms: list[float] = []
            socket_ms: list[float] = []
            for i in range(messages):
                text = f"latency probe {i} {uuid.uuid4().hex[:6]}"
                waiters[text] = loop.create_future()
                socket_seen[text] = loop.create_future()
                started = time.perf_counter()
                await customer.send(json.dumps({"type": "message", "id": f"m{i}", "text": text}))
                try:
                    on_page = await asyncio.wait_for(waiters[text], 10)
                except TimeoutError:
                    print(
                        f"message {i} never showed; socket events so far: {kinds}", file=sys.stderr
                    )
                    raise
                try:
                    on_socket = await asyncio.wait_for(socket_seen[text], 10)
                except TimeoutError:
                    print(
                        f"message {i}: console socket never got it; events: {kinds}; "
                        f"listener done: {listener.done()}",
                        file=sys.stderr,
                    )
                    raise
                page_ms.append((on_page - started) * 1000)
                socket_ms.append((on_socket - started) * 1000)
            listener.cancel()
            draining.cancel()
            await agent_socket.close()
            await customer.close()
            shown = await page.locator("#timeline .msg-in").count()
            await browser.close()
    finally:
        server.should_exit = True
        await serving
        await engine.db.dispose()
    return {
        "messages": messages,
        "shown_on_page": shown,
        "console_page_ms": summary(page_ms),
        "console_socket_ms": summary(socket_ms),
    }


def write_section(
    results: list[tuple[str, dict[str, Any]]], command: str, load: tuple[float, float]
) -> None:
    messages = results[0][1]["messages"]
    lines = [
        SECTION,
        "",
        f"`{command}`, {time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, "
        f"Chromium {_chromium_version()}; load average {load[0]:.1f} before, "
        f"{load[1]:.1f} after, on {os.cpu_count()} cores shared with other work.",
        "Time from the customer's web chat socket sending a message (the agent owns the chat,",
        "so it is relayed, not parsed) until it is in the agent's open console page (a",
        "MutationObserver reporting back through Playwright), and until a second console",
        f"socket gets the desk event. {messages} messages, one at a time, per database.",
        "",
        "| database | to | p50 | p95 | p99 | max | mean |",
        "|---|---|---|---|---|---|---|",
    ]
    for database, result in results:
        for label, key in (
            ("agent's console page (DOM)", "console_page_ms"),
            ("console socket (desk event)", "console_socket_ms"),
        ):
            numbers = result[key]
            lines.append(
                f"| {database} | {label} | "
                + " | ".join(f"{numbers[k]:.1f} ms" for k in ("p50", "p95", "p99", "max", "mean"))
                + " |"
            )
    lines.append("")
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    block = "\n".join(lines) + "\n"
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    RESULTS.write_text(text, encoding="utf-8")


def _chromium_version() -> str:
    import subprocess

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    try:
        output = subprocess.run(
            [chromium, "--version"], capture_output=True, text=True, timeout=20
        ).stdout
    except OSError:
        return "?"
    found = re.search(r"\d+(?:\.\d+)+", output)
    return found.group(0) if found else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument(
        "--database-url",
        action="append",
        default=[],
        help="a database to measure on (repeatable); default: a fresh SQLite file",
    )
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = parser.parse_args()
    results: list[tuple[str, dict[str, Any]]] = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        for url in args.database_url or [f"sqlite+aiosqlite:///{scratch}/bench.db"]:
            database = "PostgreSQL" if url.startswith("postgresql") else "SQLite (WAL)"
            result = asyncio.run(run(args.messages, url))
            print(database, json.dumps(result, indent=2))
            results.append((database, result))
    if args.write:
        command = "python bench/console_latency.py " + " ".join(sys.argv[1:])
        write_section(results, command, (load_before, os.getloadavg()[0]))


if __name__ == "__main__":
    main()
