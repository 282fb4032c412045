"""The public data sets of the NLU benchmark, read from ``../shared/datasets`` (never copied).

Each loader returns a :class:`Dataset`: labelled training texts, a validation split
(used only to choose thresholds) and a test split (used only to score). The label
``out_of_scope`` marks texts the bot should not answer.
"""

from __future__ import annotations

import csv
import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

OUT_OF_SCOPE = "out_of_scope"
ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("HELPDESK_DATASETS", ROOT.parent / "shared" / "datasets"))

Example = tuple[str, str]  # (text, label)


@dataclass(frozen=True)
class Dataset:
    name: str
    train: list[Example]
    validation: list[Example]
    test: list[Example]
    task: str = "intent"  # "intent" (accuracy, OOS) or "faq" (accuracy@1, MRR)
    note: str = ""

    def examples_by_label(self) -> dict[str, list[str]]:
        grouped: dict[str, list[str]] = defaultdict(list)
        for text, label in self.train:
            grouped[label].append(text)
        return dict(grouped)

    def subset(self, labels: int, per_label: int | None = None) -> Dataset:
        """The first ``labels`` labels (plus out_of_scope), for quick runs."""
        keep = sorted({label for _, label in self.train} - {OUT_OF_SCOPE})[:labels]
        keep_set = {*keep, OUT_OF_SCOPE}

        def pick(rows: list[Example], cap: int | None) -> list[Example]:
            seen: dict[str, int] = defaultdict(int)
            out = []
            for text, label in rows:
                if label in keep_set and (cap is None or seen[label] < cap):
                    seen[label] += 1
                    out.append((text, label))
            return out

        return Dataset(
            f"{self.name}-{labels}",
            pick(self.train, per_label),
            pick(self.validation, None),
            pick(self.test, None),
            self.task,
            f"subset: {labels} labels" + (f", {per_label} per label" if per_label else ""),
        )


def clinc150() -> Dataset:
    """CLINC150 data_full.json, "oos-train": oos_train is a class; scored on test + oos_test."""
    data = json.loads((DATA / "clinc150" / "data_full.json").read_text(encoding="utf-8"))

    def rows(*splits: str) -> list[Example]:
        return [
            (str(text), OUT_OF_SCOPE if label == "oos" else str(label))
            for split in splits
            for text, label in data[split]
        ]

    return Dataset(
        "clinc150",
        rows("train", "oos_train"),
        rows("val", "oos_val"),
        rows("test", "oos_test"),
        note="data_full.json, oos-train setting",
    )


def banking77() -> Dataset:
    """BANKING77: the last 10% of each intent's training rows are held out for validation."""

    def read(name: str) -> list[Example]:
        with (DATA / "banking77" / name).open(encoding="utf-8") as handle:
            return [(row["text"], row["category"]) for row in csv.DictReader(handle)]

    train, validation = _hold_out(read("train.csv"), every=10)
    return Dataset("banking77", train, validation, read("test.csv"), note="val: 1 in 10 of train")


def bitext() -> Dataset:
    base = DATA / "bitext_customer_support" / "data"

    def read(split: str) -> list[Example]:
        path = next((base / split).glob("*.csv"))
        with path.open(encoding="utf-8") as handle:
            return [(row["utterance"], row["intent"]) for row in csv.DictReader(handle)]

    return Dataset("bitext", read("train"), read("dev"), read("test"))


def stackfaq() -> Dataset:
    """StackFAQ as FAQ retrieval: each FAQ's title and every other paraphrase train it.

    The remaining paraphrases are split between validation (every 4th) and test.
    """
    base = DATA / "stackfaq"
    faqs = [json.loads(line) for line in (base / "stackfaq_faqs.jsonl").open(encoding="utf-8")]
    queries = [
        json.loads(line) for line in (base / "stackfaq_queries.jsonl").open(encoding="utf-8")
    ]
    train: list[Example] = [(str(f["question"]), f"faq{f['faq_id']}") for f in faqs]
    validation: list[Example] = []
    test: list[Example] = []
    counts: dict[int, int] = defaultdict(int)
    for query in queries:
        label, index = f"faq{query['faq_id']}", counts[query["faq_id"]]
        counts[query["faq_id"]] += 1
        target = train if index % 2 == 0 else validation if index % 4 == 1 else test
        target.append((str(query["query"]), label))
    return Dataset("stackfaq", train, validation, test, task="faq", note="title + half the queries")


def _hold_out(rows: list[Example], every: int) -> tuple[list[Example], list[Example]]:
    counts: dict[str, int] = defaultdict(int)
    kept: list[Example] = []
    held: list[Example] = []
    for text, label in rows:
        counts[label] += 1
        (held if counts[label] % every == 0 else kept).append((text, label))
    return kept, held


LOADERS = {"clinc150": clinc150, "banking77": banking77, "bitext": bitext, "stackfaq": stackfaq}


def load(name: str) -> Dataset:
    """``clinc150``, ``banking77``, ``bitext``, ``stackfaq``; ``NAME:N`` keeps N labels."""
    base, _, size = name.partition(":")
    if base not in LOADERS:
        raise SystemExit(f"unknown data set {base!r}: choose from {sorted(LOADERS)}")
    dataset = LOADERS[base]()
    return dataset.subset(int(size)) if size else dataset
