"""What the embed snippet costs a shop's page, and how soon the chat answers in it.

    .venv/bin/python bench/webchat_embed.py [--rounds N] [--json FILE]

The bot (web chat with the scripted NLU of the tests, so the model's time is not in
the figures; SQLite in a temporary directory) on one port of 127.0.0.1, a shop's page
with only the snippet on another, and Debian's Chromium. Each round is a fresh browser
context (nothing cached), on a 1280 x 800 page:

- **bubble**: from navigation start to the launcher on the page (the snippet fetched
  and run);
- **open**: from the click on the bubble to "connected" in the frame (the frame's page,
  script, style and the socket's handshake and history);
- **identified**: the same with a signed identity token: until the bot said the
  customer is verified;
- **first answer**: from sending "where is my order" to the answer shown.

Also the snippet's size as served and gzipped (what every page of the shop loads).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.async_api import async_playwright, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from bot.channels.webchat import WebChatChannel
from bot.channels.webchat_sites import Site, site_map
from bot.storage.database import Database
from bot.storage.migrate import upgrade_async
from bot.web.app import STATIC
from tests.support.console import serve_console
from tests.support.desk import WallClock, make_rig
from tests.support.identity import customer_token
from tests.support.server import serve

SECRET = b"bench secret"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 0.5), 1),
        "p95": round(percentile(values, 0.95), 1),
        "max": round(max(values), 1),
        "mean": round(statistics.fmean(values), 1),
    }


async def run(rounds: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await upgrade_async(url)
        db = Database(url)
        channel = WebChatChannel()
        rig = await make_rig(db, channel=channel, clock=WallClock())
        await channel.start(rig.engine.receive)
        state = {"bot": "", "attributes": ""}

        async def page(_: Request) -> Response:
            return HTMLResponse(
                f'<!doctype html><html><head><meta charset="utf-8"></head><body><h1>Shop</h1>'
                f'<script src="http://{state["bot"]}/widget.js" data-site-key="bench-site" '
                f"{state['attributes']} async></script></body></html>"
            )

        times: dict[str, list[float]] = {
            "bubble": [],
            "open": [],
            "identified": [],
            "first answer": [],
        }
        async with (
            serve_console(rig, webchat=channel) as bot,
            serve(Starlette(routes=[Route("/", page)])) as shop,
            async_playwright() as playwright,
        ):
            state["bot"] = bot.removeprefix("http://")
            channel.sites = site_map(
                [Site(key="bench-site", origins=(f"http://{shop}",), secret=SECRET)]
            )
            chromium = shutil.which("chromium") or "/usr/bin/chromium"
            browser = await playwright.chromium.launch(executable_path=chromium, args=ARGS)
            for n in range(rounds):
                identified = n % 2 == 1
                state["attributes"] = (
                    f'data-identity-token="{customer_token(SECRET, sub=f"c{n}", name="B")}"'
                    if identified
                    else ""
                )
                context = await browser.new_context(viewport={"width": 1280, "height": 800})
                tab = await context.new_page()
                await tab.goto(f"http://{shop}/")
                launcher = tab.locator("#helpdesk-widget button.helpdesk-launcher")
                await expect(launcher).to_be_visible(timeout=30_000)
                times["bubble"].append(await tab.evaluate("() => performance.now()"))
                frame = tab.frame_locator("#helpdesk-widget iframe")
                start = time.perf_counter()
                await launcher.click()
                if identified:
                    await expect(frame.locator("html")).to_have_attribute(
                        "data-verified", "true", timeout=30_000
                    )
                    times["identified"].append((time.perf_counter() - start) * 1000)
                else:
                    await expect(frame.locator("#chat-status")).to_have_text(
                        "connected", timeout=30_000
                    )
                    times["open"].append((time.perf_counter() - start) * 1000)
                await expect(frame.locator("#chat-status")).to_have_text(
                    "connected", timeout=30_000
                )
                await frame.locator("#chat-input").fill("where is my order")
                start = time.perf_counter()
                await frame.locator("#chat-send").click()
                await expect(frame.locator(".msg-out")).to_have_count(1, timeout=30_000)
                times["first answer"].append((time.perf_counter() - start) * 1000)
                await context.close()
            await browser.close()
        await db.dispose()
    snippet = (STATIC / "snippet.js").read_bytes()
    return {
        "rounds": rounds,
        "snippet_bytes": len(snippet),
        "snippet_gzip_bytes": len(gzip.compress(snippet, 9)),
        "ms": {name: summary(values) for name, values in times.items() if values},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = asyncio.run(run(args.rounds))
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
