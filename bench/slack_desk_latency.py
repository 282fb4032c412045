"""How long between a customer and an agent working from the Slack desk, each way?

    .venv/bin/python bench/slack_desk_latency.py [--messages 200] [--database-url URL]

What runs: the real engine and agent desk (on a fresh SQLite file, or the PostgreSQL
database given), the real Slack channel (slack-bolt app and Web API client) served by
uvicorn on 127.0.0.1 and talking to the fake Slack Web API (tests/support/fake_slack.py),
and the Slack desk. A customer on another channel (the test FakeChannel) asks for a
person; agent bob claims the chat with the card's button (a signed interactive POST).
Then, one at a time:

- ``customer → thread``: from just before the customer's message enters the engine
  until the fake Slack receives the ``chat.postMessage`` that shows it in the thread;
- ``agent → customer``: from just before the signed ``message.channels`` event of bob's
  thread reply is POSTed until the desk publishes the reply as delivered (right after
  the customer's channel accepted it).

The NLU is never called: while an agent has the chat, messages are relayed, not parsed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import attach_slack_desk  # noqa: E402
from bot.channels.slack.channel import SlackChannel  # noqa: E402
from bot.desk.accounts import set_slack_user  # noqa: E402
from bot.events import EventKind  # noqa: E402
from bot.settings import SlackSettings  # noqa: E402
from bot.storage.database import Database  # noqa: E402
from bot.storage.migrate import upgrade_async  # noqa: E402
from bot.web.app import create_web_app  # noqa: E402
from tests.support.desk import make_rig  # noqa: E402
from tests.support.fake_slack import FakeSlack  # noqa: E402
from tests.support.server import serve  # noqa: E402

AGENTS = "C0AGENTS"


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms (n={len(ordered)})"


async def measure(db_url: str, messages: int) -> None:
    await upgrade_async(db_url)
    db = Database(db_url)
    rig = await make_rig(db)
    async with FakeSlack() as slack:
        channel = SlackChannel(
            SlackSettings(base_url=slack.base_url),
            bot_token=slack.bot_token,
            signing_secret=slack.signing_secret,
        )
        await channel.start(rig.engine.receive)
        desk = attach_slack_desk(rig.desk, [channel], slack_channel=AGENTS)
        assert desk is not None
        await rig.add_agent("bob")
        await set_slack_user(db, name="bob", slack_user="U0BOB")

        async def readiness() -> dict[str, object]:
            return {"ready": True}

        app = create_web_app(
            engine=rig.engine, webchat=None, readiness=readiness, routes=channel.routes()
        )
        mirror = asyncio.create_task(desk.run())
        await desk.listening.wait()
        try:
            async with serve(app) as address:
                url = f"http://{address}/slack/events"
                await rig.push("/human")
                await desk.wait_opened(1)
                [ts] = [t for (c, t) in slack.messages if c == AGENTS]
                press = slack.press(AGENTS, ts, user="U0BOB", index=0)
                await slack.post(url, press, interactive=True)
                await slack.wait_for("chat.update", where=lambda c: "bob" in c.args["text"])
                posts = slack.subscribe("chat.postMessage")
                inbound: list[float] = []
                outbound: list[float] = []
                async with rig.desk.events.subscribe() as events:
                    for n in range(messages):
                        text = f"customer message {n}"
                        start = time.perf_counter()
                        await rig.push(text)
                        while text not in (await posts.get()).args["text"]:
                            pass
                        inbound.append(time.perf_counter() - start)

                        reply = f"agent reply {n}"
                        event = slack.channel_message("U0BOB", reply, channel=AGENTS, thread_ts=ts)
                        start = time.perf_counter()
                        await slack.post_event(url, event)
                        async with asyncio.timeout(10):
                            async for desk_event in events:
                                message = desk_event.data.get("message") or {}
                                if (
                                    desk_event.kind == EventKind.MESSAGE
                                    and message.get("text") == reply
                                ):
                                    break
                        outbound.append(time.perf_counter() - start)
                print(f"database: {db_url.split(':')[0]}")
                print(f"customer → thread: {percentiles(inbound)}")
                print(f"agent → customer:  {percentiles(outbound)}")
        finally:
            await desk.stop()
            mirror.cancel()
            await asyncio.gather(mirror, return_exceptions=True)
            await channel.stop()
            await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        asyncio.run(measure(url, args.messages))


if __name__ == "__main__":
    main()
