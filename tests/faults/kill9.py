"""Kill -9 of the real bot mid-stream, with web chat customers who behave like the widget.

``helpdesk run`` runs as a subprocess against a database and an external Rasa; ``sessions``
customers each ask ``messages`` questions, one after the other, each waiting for the
answer before the next, as people do. After ``kill_after`` answers in all, the bot is
killed with SIGKILL and started again; the customers reconnect as the widget does: they
re-send every message not acknowledged, and rebuild their log from the history, dropping
a live reply whose id they already show (a reply resent after the crash).

At the end each customer's log is compared with what it asked: a question without its
answer is *lost*, a question answered twice (two reply rows) is *duplicated*; replies the
server sent again and the client dropped by id are counted as *resent*. Used by
``tests/faults/test_kill9.py`` (CI sizes) and ``bench/faults.py`` (bigger runs).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = [
    ("Where is my order?", "order_status"),
    ("What is your return policy?", "return_policy"),
    ("What payment methods do you accept?", "payment_methods"),
    ("How do I reset my password?", "reset_password"),
    ("How long does delivery take?", "delivery_time"),
    ("What does the warranty cover?", "warranty_coverage"),
    ("Do you sell gift cards?", "gift_cards"),
]


@dataclass
class Figures:
    """What one run measured."""

    sessions: int
    messages: int
    kills: int = 0
    answered: int = 0
    lost: int = 0
    duplicated: int = 0
    resent: int = 0
    """Replies the server sent again after a crash, dropped by the client by their id."""
    wrong: int = 0
    """Answers that are not the answer to the question asked (order or content)."""
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


@dataclass
class Customer:
    """One web chat session, as the widget keeps it."""

    session: str
    questions: list[str]
    shown: dict[str, str] = field(default_factory=dict)
    """Reply id -> text, in the order shown (the log)."""
    pending: dict[str, str] = field(default_factory=dict)
    """Frames sent and not yet acknowledged: id -> JSON text."""
    sent: int = 0
    resent: int = 0

    @property
    def done(self) -> bool:
        return len(self.shown) >= len(self.questions) and not self.pending

    def on_history(self, messages: list[dict[str, Any]]) -> None:
        self.shown = {str(m["id"]): str(m["text"]) for m in messages if m.get("direction") == "out"}
        for m in messages:
            if m.get("direction") == "in":
                self.pending.pop(str(m.get("id")), None)

    def on_frame(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "ack":
            self.pending.pop(str(frame.get("id")), None)
        elif frame.get("type") == "message":
            reply_id = str(frame["id"])
            if reply_id in self.shown:
                self.resent += 1
            else:
                self.shown[reply_id] = str(frame["text"])

    def next_frame(self) -> str | None:
        """The next question, once every earlier one is answered."""
        if self.sent >= len(self.questions) or len(self.shown) < self.sent:
            return None
        frame_id = f"{self.session}-{self.sent}"
        text = json.dumps({"type": "message", "id": frame_id, "text": self.questions[self.sent]})
        self.pending[frame_id] = text
        self.sent += 1
        return text


class Bot:
    """``helpdesk run`` in a subprocess, killed and started again."""

    def __init__(self, *, database_url: str, nlu_url: str, nlu_token: str, port: int) -> None:
        self.port = port
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "HELPDESK_NLU__URL": nlu_url,
            "RASA_TOKEN": nlu_token,
            "HELPDESK_WEB__PORT": str(port),
            "HELPDESK_KNOWLEDGE_BASE__PATH": str(ROOT / "tests" / "fixtures" / "kb"),
            "CONSOLE_SECRET_KEY": "kill9-test-key-kill9-test-key",
        }
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, *, within: float = 60.0) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "run",
            cwd=ROOT,
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        deadline = time.monotonic() + within
        async with httpx.AsyncClient() as probe:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    raise RuntimeError(f"helpdesk run exited with {self.process.returncode}")
                try:
                    health = await probe.get(f"http://127.0.0.1:{self.port}/healthz")
                    if health.status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"helpdesk run not ready within {within:.0f} s")

    async def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

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


async def chat(customer: Customer, url: str, stop: asyncio.Event) -> None:
    """Talk until every question is answered, reconnecting as the widget does."""
    while not customer.done and not stop.is_set():
        try:
            async with connect(url, open_timeout=5) as ws:
                await converse(customer, ws)
        except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError):
            await asyncio.sleep(0.2)  # the widget's backoff, shortened


async def converse(customer: Customer, ws: ClientConnection) -> None:
    while (first := json.loads(await ws.recv())).get("type") != "history":
        customer.on_frame(first)  # the server sends the history first: count it if not
    customer.on_history(first.get("messages", []))
    for text in list(customer.pending.values()):  # not acknowledged: send it again
        await ws.send(text)
    while not customer.done:
        frame = customer.next_frame()
        if frame is not None:
            await ws.send(frame)
            continue
        customer.on_frame(json.loads(await ws.recv()))


async def run(
    *,
    database_url: str,
    nlu_url: str,
    nlu_token: str,
    port: int,
    sessions: int,
    messages: int,
    kills: int = 1,
    kill_every: int | None = None,
    within: float = 120.0,
) -> Figures:
    """One fault run: the bot is killed ``kills`` times, every ``kill_every`` answers."""
    started = time.monotonic()
    bot = Bot(database_url=database_url, nlu_url=nlu_url, nlu_token=nlu_token, port=port)
    url = f"ws://127.0.0.1:{port}/ws/chat?lang=en&session="
    customers = [
        Customer(
            f"kill9-{n:04d}-session",
            [QUESTIONS[(n + i) % len(QUESTIONS)][0] for i in range(messages)],
        )
        for n in range(sessions)
    ]
    every = kill_every or max(1, sessions * messages // (kills + 1))
    figures = Figures(sessions=sessions, messages=messages)
    stop = asyncio.Event()
    await bot.start()
    talks = [asyncio.ensure_future(chat(c, url + c.session, stop)) for c in customers]
    try:
        for _ in range(kills):
            target = (figures.kills + 1) * every
            while sum(len(c.shown) for c in customers) < target:
                if all(t.done() for t in talks):
                    break
                await asyncio.sleep(0.02)
            await bot.kill()
            figures.kills += 1
            await bot.start()
        try:
            await asyncio.wait_for(asyncio.gather(*talks), within)
        except TimeoutError:
            figures.problems += [
                f"{c.session}: {len(c.shown)} shown, {c.sent} sent, {len(c.pending)} unacked"
                for c in customers
                if not c.done
            ]
        for customer in customers if not figures.problems else ():  # a fresh page load
            async with connect(url + customer.session) as ws:
                history = json.loads(await ws.recv())
            stored = [m for m in history["messages"] if m.get("direction") == "out"]
            figures.duplicated += max(0, len(stored) - len(customer.questions))
            if [str(m["id"]) for m in stored] != list(customer.shown):
                figures.problems.append(f"{customer.session}: history differs from the log")
    finally:
        stop.set()
        for talk in talks:
            talk.cancel()
        await asyncio.gather(*talks, return_exceptions=True)
        await bot.stop()
    answers = answer_texts()
    for customer in customers:
        got = list(customer.shown.values())
        figures.answered += min(len(got), len(customer.questions))
        figures.lost += max(0, len(customer.questions) - len(got))
        figures.resent += customer.resent
        expected = [answers[q] for q in customer.questions]
        figures.wrong += sum(1 for a, b in zip(got, expected, strict=False) if a != b)
    figures.seconds = round(time.monotonic() - started, 1)
    return figures


def answer_texts() -> dict[str, str]:
    from bot.knowledge.loader import load_knowledge_base

    kb = load_knowledge_base(ROOT / "tests" / "fixtures" / "kb")
    return {question: kb.entries[faq].answers["en"] for question, faq in QUESTIONS}
