"""Optional lexical features for EmbeddingIntentClassifier: TF-IDF over words or characters.

Runs inside Rasa's Python 3.10 (``.venv-rasa``) and imports nothing of the bot.

Sentence embeddings blur intents that differ by a word or two ("card not arrived" /
"card delivery estimate"); TF-IDF n-grams keep that word. The classifier can
concatenate them to the embeddings in the same softmax (``lexical: word`` or
``char``; off by default, see docs/nlu.md for the measurements).

The vocabulary and IDF weights are plain arrays, persisted with the classifier's other
weights (no pickle), and the same :func:`transform` builds the features at training
and at parse time, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# (analyzer, n-gram range) per kind: word uni+bigrams, or characters within words.
KINDS: dict[str, tuple[str, tuple[int, int]]] = {
    "word": ("word", (1, 2)),
    "char": ("char_wb", (1, 4)),
}


@dataclass(frozen=True)
class LexicalVocabulary:
    kind: str
    terms: np.ndarray
    """The n-grams, in feature-column order (a unicode array)."""
    idf: np.ndarray
    weight: float = 1.0
    """Scales the TF-IDF columns against the (unit-length) embedding columns."""


def fit(kind: str, texts: Sequence[str], min_df: int = 2, weight: float = 1.0) -> LexicalVocabulary:
    """The n-grams seen in at least ``min_df`` training texts, with their IDF."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    analyzer, ngrams = _kind(kind)
    # Every n-gram of a tiny training set may be rare: keep them all then.
    vectorizer = TfidfVectorizer(
        analyzer=analyzer,
        ngram_range=ngrams,
        min_df=min_df if len(texts) >= 10 * min_df else 1,
        sublinear_tf=True,
    )
    vectorizer.fit(list(texts))
    order = sorted(vectorizer.vocabulary_.items(), key=lambda item: item[1])
    terms = np.array([term for term, _ in order], dtype=str)
    return LexicalVocabulary(kind, terms, np.asarray(vectorizer.idf_, dtype=np.float32), weight)


def transform(vocabulary: LexicalVocabulary, texts: Sequence[str]) -> Any:
    """Rows of sublinear TF x IDF, L2-normalised, times the weight (a scipy CSR matrix)."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.preprocessing import normalize

    analyzer, ngrams = _kind(vocabulary.kind)
    counts = CountVectorizer(
        analyzer=analyzer,
        ngram_range=ngrams,
        vocabulary={str(term): i for i, term in enumerate(vocabulary.terms)},
        dtype=np.float32,
    ).transform(list(texts))
    counts.data = 1.0 + np.log(counts.data)
    weighted = counts.multiply(vocabulary.idf.reshape(1, -1)).tocsr()
    return normalize(weighted, norm="l2", copy=False) * vocabulary.weight


def _kind(kind: str) -> tuple[str, tuple[int, int]]:
    if kind not in KINDS:
        raise ValueError(f"lexical features are one of {sorted(KINDS)}, not {kind!r}")
    return KINDS[kind]
