"""The unanswered-questions report with bounded work per page load.

Embedding is the costly part (milliseconds a question with e5, more for long ones), and
the page used to embed every question of the period in full on every load: 11.6 s after
five 4,000-character questions, minutes on a big database. Now a load

- embeds only the start of each question (:data:`bot.reports.unanswered.EMBED_CHARS`),
- takes the latest :data:`MAX_QUESTIONS` of the period (the page says how many it left),
- reuses vectors it embedded before (:class:`CachedEmbedder`, keyed by a hash of the
  text), so a reload costs only the questions that are new,
- and stops embedding once :data:`REPORT_BUDGET_S` are spent (one batch of new questions
  always completes, so every load makes progress; the cache carries it to the next),
  and grouping once :data:`GROUP_BUDGET_S` are.
"""

from __future__ import annotations

import hashlib
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.reports.unanswered import Cluster, Embedder, Unanswered, embedded_text, group

MAX_QUESTIONS = 300
"""Questions a load groups at most: the latest of the period."""
REPORT_BUDGET_S = 5.0
"""Time a load spends embedding and grouping, at most (plus one batch)."""
GROUP_BUDGET_S = 5.0
"""Time a load spends grouping the embedded questions, at most (O(questions x groups))."""
EMBED_BATCH = 16
CACHE_SIZE = 2_000
"""Vectors kept (float32): ~3 MB with e5's 384 dimensions, ~16 MB with 2,048 trigrams."""


class CachedEmbedder:
    """An embedder that remembers the vectors of the texts it embedded (LRU, by SHA-256)."""

    def __init__(self, inner: Embedder, *, size: int = CACHE_SIZE) -> None:
        self.inner = inner
        self.name = inner.name
        self.threshold = inner.threshold
        self.size = size
        self._vectors: OrderedDict[bytes, array[float]] = OrderedDict()

    def has(self, text: str) -> bool:
        return _key(text) in self._vectors

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        keys = [_key(text) for text in texts]
        missing: dict[bytes, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in self._vectors:
                missing.setdefault(key, text)
        if missing:
            fresh = self.inner.embed(list(missing.values()))
            for key, vector in zip(missing, fresh, strict=True):
                self._vectors[key] = array("f", vector)
        rows = []
        for key in keys:
            self._vectors.move_to_end(key)
            rows.append(list(self._vectors[key]))
        while len(self._vectors) > self.size:
            self._vectors.popitem(last=False)
        return rows


def _key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True, slots=True)
class Report:
    groups: list[Cluster]
    total: int
    """Questions in the period."""
    considered: int
    """The latest ``considered`` of them were to be grouped (at most ``MAX_QUESTIONS``)."""
    grouped: int
    """How many of those are in ``groups`` (fewer when the time ran out)."""


def unanswered_report(
    items: Sequence[Unanswered],
    embedder: Embedder,
    *,
    threshold: float | None = None,
    max_questions: int = MAX_QUESTIONS,
    budget_s: float = REPORT_BUDGET_S,
    clock: Callable[[], float] = time.monotonic,
) -> Report:
    """Group the latest questions of ``items`` (oldest first), embedding for ``budget_s``.

    Questions embedded before cost nothing; new ones are embedded newest first, a batch
    at a time, while the budget lasts (the first batch always). Grouping then has a
    budget of its own (:data:`GROUP_BUDGET_S`), checked before each question.
    """
    cache = embedder if isinstance(embedder, CachedEmbedder) else CachedEmbedder(embedder)
    latest = list(items[-max_questions:]) if max_questions > 0 else []
    deadline = clock() + budget_s
    known = [item for item in latest if cache.has(embedded_text(item))]
    new = [item for item in reversed(latest) if not cache.has(embedded_text(item))]
    vectors: dict[int, list[float]] = {}

    def embed(batch: Sequence[Unanswered]) -> None:
        rows = cache.embed([embedded_text(item) for item in batch])
        vectors.update(zip((item.message_id for item in batch), rows, strict=True))

    embed(known)  # no model call: all cached
    for start in range(0, len(new), EMBED_BATCH):
        if start and clock() >= deadline:
            break
        embed(new[start : start + EMBED_BATCH])
    chosen = [item for item in latest if item.message_id in vectors]
    group_deadline = clock() + GROUP_BUDGET_S
    groups = group(
        chosen,
        [vectors[item.message_id] for item in chosen],
        threshold=threshold or cache.threshold,
        until=lambda: clock() >= group_deadline,
    )
    return Report(
        groups=groups,
        total=len(items),
        considered=len(latest),
        grouped=sum(g.count for g in groups),
    )
