"""The Rasa pipelines the benchmark compares, by name.

``stock`` is the pipeline the project shipped before the embedding classifier (word and
char n-gram CountVectors into DIET, 100 epochs): the baseline every other row is
measured against, in the same run. ``config`` is whatever ``config.yml`` ships now.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
E5 = "bot.nlu_components.sentence_embeddings.SentenceEmbeddingFeaturizer"
SOFTMAX = "bot.nlu_components.embedding_classifier.EmbeddingIntentClassifier"


def _diet(epochs: int) -> dict[str, Any]:
    return {
        "name": "DIETClassifier",
        "epochs": epochs,
        "entity_recognition": False,
        "constrain_similarities": True,
        "random_seed": 42,
    }


STOCK: list[dict[str, Any]] = [
    {"name": "WhitespaceTokenizer"},
    {"name": "CountVectorsFeaturizer"},
    {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4},
    _diet(100),
]

PIPELINES: dict[str, list[dict[str, Any]]] = {
    "stock": STOCK,
    # Sentence embeddings into a softmax, with nearest-example similarity: seconds to train.
    "e5-softmax": [{"name": "WhitespaceTokenizer"}, {"name": E5}, {"name": SOFTMAX}],
    # The same with every out-of-scope example at full weight (the shipped classifier
    # scales them by the FAQs' coverage of their script): what that scaling is worth.
    "e5-oos-full": [
        {"name": "WhitespaceTokenizer"},
        {"name": E5},
        {"name": SOFTMAX, "out_of_scope_weight": 1.0},
    ],
    # The same without the FAQ questions' script copies (script_copies.py): what the
    # copies are worth where entries are asked in fewer languages than the bot speaks.
    "e5-no-copies": [
        {"name": "WhitespaceTokenizer"},
        {"name": E5},
        {"name": SOFTMAX, "script_copies": False},
    ],
    # The same, with word uni+bigram TF-IDF next to the embeddings in the softmax.
    "e5-lexical": [
        {"name": "WhitespaceTokenizer"},
        {"name": E5},
        {"name": SOFTMAX, "lexical": "word"},
    ],
    # The same embeddings into DIET (each token carries the sentence vector).
    "e5-diet": [
        {"name": "WhitespaceTokenizer"},
        {"name": E5, "sequence": "repeat"},
        _diet(40),
    ],
}


def pipeline(name: str) -> list[dict[str, Any]]:
    """A named pipeline, or ``config`` for config.yml's."""
    if name == "config":
        data = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
        return list(data["nlu"]["pipeline"])
    if name not in PIPELINES:
        raise SystemExit(f"unknown pipeline {name!r}: choose from config, {', '.join(PIPELINES)}")
    return PIPELINES[name]
