"""The unanswered report's bounds, counted (not timed): a clock that ticks once per look."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.reports.unanswered import TrigramEmbedder, Unanswered
from bot.reports.unanswered_report import (
    EMBED_BATCH,
    GROUP_BUDGET_S,
    CachedEmbedder,
    unanswered_report,
)


class Counting(TrigramEmbedder):
    def __init__(self) -> None:
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts += texts
        return super().embed(texts)


def questions(count: int) -> list[Unanswered]:
    at = datetime(2026, 11, 2, tzinfo=UTC)
    return [
        Unanswered(n, n, f"distinct question {n} on subject {n * 7919 % 997}", "en", "handoff", at)
        for n in range(count)
    ]


def test_grouping_stops_when_its_budget_is_spent() -> None:
    ticks = itertools.count()  # every look at the clock is one second later
    report = unanswered_report(
        questions(40), TrigramEmbedder(), budget_s=1000, clock=lambda: float(next(ticks))
    )
    assert report.considered == 40
    assert 0 < report.grouped <= GROUP_BUDGET_S + 1 < 40


def test_the_cache_embeds_each_text_once_and_forgets_the_oldest() -> None:
    inner = Counting()
    cache = CachedEmbedder(inner, size=3)
    rows = cache.embed(["a", "b", "a"])
    assert inner.texts == ["a", "b"] and rows[0] == rows[2] != rows[1]
    inner.texts.clear()
    cache.embed(["a", "b", "c", "d"])
    assert inner.texts == ["c", "d"]
    assert not cache.has("a") and cache.has("d")  # three kept, the least recently used went


def test_embedding_takes_one_new_batch_per_load_past_its_budget() -> None:
    inner = Counting()
    cache = CachedEmbedder(inner)
    items = questions(3 * EMBED_BATCH)
    first = unanswered_report(items, cache, budget_s=0)
    second = unanswered_report(items, cache, budget_s=0)
    assert (first.grouped, second.grouped) == (EMBED_BATCH, 2 * EMBED_BATCH)
    assert len(inner.texts) == 2 * EMBED_BATCH
    # The newest first: the oldest wait for a later load.
    assert {i.message_id for g in first.groups for i in g.items} == set(
        range(2 * EMBED_BATCH, 3 * EMBED_BATCH)
    )
