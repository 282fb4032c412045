"""NLU work is bounded: the model reads the start of a long message, and only a few
parses are in flight at once, whoever floods the chat."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.knowledge.loader import load_knowledge_base
from bot.nlu.client import ParseResult
from tests.conftest import TEST_KB, Pipeline
from tests.support.waiting import still_pending, wait_until

pytestmark = pytest.mark.rasa

KB = load_knowledge_base(TEST_KB)


class WatchedNlu:
    """The real NLU client, watched: what it was asked to read, how many at once."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.read: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def parse(self, text: str) -> ParseResult:
        self.read.append(text)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.gate.wait()
            return await self.inner.parse(text)  # type: ignore[no-any-return]
        finally:
            self.in_flight -= 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_the_model_reads_the_start_of_a_long_message(pipeline: Pipeline) -> None:
    watched = WatchedNlu(pipeline.engine.nlu)
    pipeline.engine.nlu = watched
    limit = pipeline.engine.options.max_parse_chars
    text = "Where is my order? " + "I have been waiting for so long. " * 1200  # ~40,000
    replies = await pipeline.channel.push(text)
    assert [len(t) for t in watched.read] == [limit]
    assert [r.text for r in replies] == [KB.entries["order_status"].answers["en"]]
    [stored] = [
        m
        for m in await pipeline.engine.transcript(channel="fake", conversation_key="chat-alice")
        if m.sender == "customer"
    ]
    assert stored.text == text  # kept whole: an agent reads all of it


async def test_a_flood_from_many_sessions_keeps_few_parses_in_flight(pipeline: Pipeline) -> None:
    watched = WatchedNlu(pipeline.engine.nlu)
    watched.gate.clear()
    pipeline.engine.nlu = watched
    most = pipeline.engine.options.max_concurrent_parses
    flood = [
        asyncio.ensure_future(pipeline.channel.push("x " * 2000, user=f"flood-{n}"))
        for n in range(12)
    ]
    await wait_until(lambda: watched.in_flight == most, within=10, what="parses in flight")
    customer = asyncio.ensure_future(pipeline.channel.push("where is my order", user="calm"))
    assert await still_pending(customer, for_s=0.2)  # it waits its turn for the NLU
    assert watched.in_flight == most
    watched.gate.set()
    await asyncio.gather(*flood, customer)
    assert watched.most_in_flight == most
    answer = KB.entries["order_status"].answers["en"]
    assert [r.text for r in pipeline.channel.sent_to("calm")] == [answer]
