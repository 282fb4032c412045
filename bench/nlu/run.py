"""The NLU benchmark: data sets through the project's own compile -> train -> parse path.

    .venv/bin/python -m bench.nlu.run --dataset clinc150 --pipeline stock --pipeline e5-softmax

Per (data set, pipeline) row: ``bot.nlu.training.compile_project`` + ``train`` (a cold
Rasa cache, so the time is a real training), a Rasa server from
``bot.nlu.rasa_server`` parsing over HTTP with ``bot.nlu.client.RasaClient``, thresholds chosen
by ``bot.nlu.thresholds.choose`` on the validation split, and the test split scored by
``bot.nlu.evaluation`` at that operating point. One JSON summary per row goes to
``bench/nlu/results/``; ``python -m bench.nlu.report`` renders the tables.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bot.nlu.training
from bench.nlu import datasets
from bench.nlu.memory import PeakMemory
from bench.nlu.pipelines import pipeline as named_pipeline
from bot.knowledge.loader import FaqEntry, KnowledgeBase, load_knowledge_base
from bot.nlu.client import FAQ_PREFIX, OUT_OF_SCOPE
from bot.nlu.decision import Thresholds
from bot.nlu.evaluation import Parsed, TestCase, judge, load_cases, metrics, report
from bot.nlu.thresholds import Observation, choose
from bot.nlu.training import CoreIntent, compile_project, load_core_intents, train
from bot.nlu.tuning import parse_with_model, split_fold

ROOT = datasets.ROOT
RESULTS = ROOT / "bench" / "nlu" / "results"
WORK = ROOT / "build" / "bench"
MODELS = ROOT / ".cache" / "bench-models"
RASA_VENV = ROOT / ".venv-rasa"
LANGUAGES = ["en", "gu", "te", "ka", "hi"]


def log(line: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {line}", file=sys.stderr, flush=True)


class Source:
    """What one row trains on and is scored on."""

    def __init__(
        self,
        name: str,
        kb: KnowledgeBase,
        core: list[CoreIntent],
        validation: list[TestCase] | None,
        test: list[TestCase],
        task: str = "intent",
        note: str = "",
        extra_validation: list[TestCase] | None = None,
        answers: bool = True,
    ) -> None:
        self.name, self.kb, self.core, self.task, self.note = name, kb, core, task, note
        # False where an entry's "answer" is only its label (the public data sets).
        self.answers = answers
        self.validation, self.test = validation, test
        # Labelled lines parsed by the full model and added to the validation data.
        self.extra_validation = extra_validation or []


def _expect(label: str) -> str:
    return OUT_OF_SCOPE if label == datasets.OUT_OF_SCOPE else FAQ_PREFIX + label


def from_dataset(ds: datasets.Dataset) -> Source:
    grouped = ds.examples_by_label()
    oos = grouped.pop(datasets.OUT_OF_SCOPE, [])
    kb = KnowledgeBase(
        {
            label: FaqEntry(id=label, questions={"en": tuple(texts)}, answers={"en": label})
            for label, texts in grouped.items()
        }
    )
    core = [CoreIntent(OUT_OF_SCOPE, {"en": tuple(oos)})] if oos else []

    def cases(rows: list[datasets.Example]) -> list[TestCase]:
        return [TestCase(text, _expect(label), "en") for text, label in rows]

    return Source(
        ds.name, kb, core, cases(ds.validation), cases(ds.test), ds.task, ds.note, answers=False
    )


def demo(english_only: bool) -> Source:
    kb = load_knowledge_base(ROOT / "knowledge_base", default_language="en")
    note = "knowledge_base/ + core intents; validation: every 5th question held out"
    if english_only:
        kb = KnowledgeBase({e.id: replace(e, questions={"en": e.questions["en"]}) for e in kb})
        note = "FAQ questions in English only (core intents in all languages); " + note
    test = load_cases(ROOT / "eval" / "demo_heldout.yml")
    extra = load_cases(ROOT / "eval" / "demo_validation.yml")
    name = "demo-en" if english_only else "demo"
    note += " + eval/demo_validation.yml (unseen out-of-scope questions)"
    return Source(name, kb, load_core_intents(), None, test, note=note, extra_validation=extra)


def load_source(name: str) -> Source:
    if name in ("demo", "demo-en"):
        return demo(name == "demo-en")
    return from_dataset(datasets.load(name))


async def train_cold(
    source: Source, pipeline: list[dict[str, Any]], tag: str
) -> tuple[Path, dict[str, Any]]:
    """Train with an empty Rasa cache (embedding cache as it is); time and memory."""
    build = WORK / f"{source.name}__{tag}"
    project = compile_project(
        source.kb, pipeline=pipeline, build_dir=build, core=source.core, answers=source.answers
    )
    cache = Path(tempfile.mkdtemp(prefix="rasa-cache-", dir=WORK))
    bot.nlu.training.RASA_CACHE_DIR = cache  # read at call time by rasa_environment()
    started = time.perf_counter()
    with PeakMemory() as peak:
        model = await train(
            project, models_dir=MODELS, rasa_venv=RASA_VENV, progress=log, force=True
        )
    stats = {"train_s": round(time.perf_counter() - started, 1), "train_peak_mb": peak.mb}
    return model, {**stats, "cache": str(cache)}


async def retrain_after_edit(source: Source, pipeline: list[dict[str, Any]], cache: str) -> float:
    """One question added to one entry, retrained the way ``helpdesk train`` would."""
    first = next(iter(source.kb))
    edited = replace(
        first,
        questions={
            **first.questions,
            "en": (*first.questions.get("en", ()), "one more way to ask this question"),
        },
    )
    kb = KnowledgeBase({**source.kb.entries, first.id: edited})
    project = compile_project(
        kb,
        pipeline=pipeline,
        build_dir=WORK / f"{source.name}__retrain",
        core=source.core,
        answers=source.answers,
    )
    bot.nlu.training.RASA_CACHE_DIR = Path(cache)  # warm: what the first training left
    started = time.perf_counter()
    await train(project, models_dir=MODELS, rasa_venv=RASA_VENV, progress=log, force=True)
    return round(time.perf_counter() - started, 1)


def faq_metrics(parsed: list[Parsed]) -> dict[str, Any]:
    """Accuracy@1 and MRR over the top 10 of the ranking."""
    reciprocal, hits = [], 0
    for item in parsed:
        names = [s.name for s in item.result.ranking][:10]
        hits += bool(names) and names[0] == item.case.expect
        rank = names.index(item.case.expect) + 1 if item.case.expect in names else None
        reciprocal.append(1 / rank if rank else 0.0)
    n = len(parsed)
    return {"n": n, "accuracy_at_1": round(hits / n, 4), "mrr_at_10": round(sum(reciprocal) / n, 4)}


def save_parsed(path: Path, validation: list[Parsed], test: list[Parsed]) -> None:
    """Every parse result, so a row can be re-scored without training again."""

    def rows(items: list[Parsed]) -> list[dict[str, Any]]:
        return [
            {
                "text": p.case.text,
                "expect": p.case.expect,
                "language": p.case.language,
                "ms": round(p.latency_ms, 2),
                **p.result.as_json(),
            }
            for p in items
        ]

    data = {"validation": rows(validation), "test": rows(test)}
    path.write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")


def latency(parsed: list[Parsed]) -> dict[str, float]:
    values = sorted(p.latency_ms for p in parsed)
    return {
        "p50": round(statistics.median(values), 1),
        "p99": round(values[min(len(values) - 1, int(len(values) * 0.99))], 1),
    }


async def run_row(source: Source, pipeline_name: str, args: argparse.Namespace) -> dict[str, Any]:
    pipeline = named_pipeline(pipeline_name)
    known = lambda faq_id: source.kb.get(faq_id) is not None  # noqa: E731
    row: dict[str, Any] = {
        "dataset": source.name,
        "note": source.note,
        "pipeline_name": pipeline_name,
        "pipeline": pipeline,
        "labels": len(source.kb) + len(source.core),
        "train_examples": sum(len(q) for e in source.kb for q in e.questions.values())
        + sum(len(t) for c in source.core for t in c.examples.values()),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "command": "python -m bench.nlu.run " + " ".join(sys.argv[1:]),
    }
    WORK.mkdir(parents=True, exist_ok=True)
    validation = source.validation
    if validation is None:
        # No validation split: hold out questions of the training data, train on the rest.
        validation, val_parsed, fold_times = [], [], []
        for fold_index in range(args.folds):
            kb_fold, core_fold, cases_fold = split_fold(
                source.kb, source.core, every=5, fold=fold_index
            )
            fold = Source(f"{source.name}-fold{fold_index}", kb_fold, core_fold, None, [])
            log(f"{source.name}/{pipeline_name}: training validation fold {fold_index}")
            fold_model, fold_stats = await train_cold(fold, pipeline, pipeline_name)
            shutil.rmtree(fold_stats.pop("cache"), ignore_errors=True)
            fold_times.append(fold_stats["train_s"])
            validation += cases_fold
            val_parsed += await parse_with_model(fold_model, cases_fold, rasa_venv=RASA_VENV)
        row["validation_folds"] = {"n": len(validation), "folds": args.folds, "train_s": fold_times}
        cases = source.extra_validation + source.test
    else:
        val_parsed = []
        cases = validation + source.test
    log(f"{source.name}/{pipeline_name}: training on {row['train_examples']} examples")
    model, stats = await train_cold(source, pipeline, pipeline_name)
    cache = stats.pop("cache")
    row.update(stats)
    if args.retrain:
        row["retrain_after_edit_s"] = await retrain_after_edit(source, pipeline, cache)
    shutil.rmtree(cache, ignore_errors=True)
    log(f"{source.name}/{pipeline_name}: parsing {len(cases)} lines over HTTP")
    server: dict[str, int] = {}
    with PeakMemory() as peak:
        parsed = await parse_with_model(
            model,
            cases,
            rasa_venv=RASA_VENV,
            log_file=WORK / "logs" / f"{source.name}__{pipeline_name}.log",
            on_ready=lambda s: server.update(pid=s.pid or 0),
        )
    row["serve_peak_mb"] = peak.mb
    if source.validation is not None:
        val_parsed, parsed = parsed[: len(validation)], parsed[len(validation) :]
    else:
        extra = len(source.extra_validation)
        val_parsed, parsed = val_parsed + parsed[:extra], parsed[extra:]
    row["parse_ms"] = latency(parsed)
    if args.cached_parse:
        row["parse_ms"] = {"p50": None, "p99": None, "note": "embeddings from the disk cache"}
    save_parsed(WORK / f"{source.name}__{pipeline_name}-parsed.json", val_parsed, parsed)
    if source.task == "faq":
        row["test"] = faq_metrics(parsed)
        row["validation"] = faq_metrics(val_parsed)
    else:
        observations = [Observation(p.result, p.case.expect) for p in val_parsed]
        choice = choose(observations, known_faq=known, min_oos_recall=args.min_oos_recall)
        row["thresholds"] = choice.as_json()
        judged = judge(
            parsed,
            thresholds=choice.thresholds,
            known_faq=known,
            languages=LANGUAGES,
            default_language="en",
        )
        full = report(judged)
        row["test"] = {k: v for k, v in full.items() if k not in ("predictions", "parse_ms")}
        argmax = judge(
            parsed,
            thresholds=Thresholds(0.0),
            known_faq=known,
            languages=LANGUAGES,
            default_language="en",
        )
        row["test_argmax"] = metrics(argmax)
        (WORK / f"{source.name}__{pipeline_name}-predictions.json").write_text(
            json.dumps(full["predictions"], ensure_ascii=False, indent=1), encoding="utf-8"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{source.name}__{pipeline_name}.json"
    out.write_text(json.dumps(row, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    log(f"wrote {out}: {json.dumps(row['test'])[:300]}")
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.nlu.run", description=__doc__)
    parser.add_argument(
        "--dataset",
        action="append",
        required=True,
        help="demo, demo-en, clinc150, banking77, bitext, stackfaq (NAME:N: N labels)",
    )
    parser.add_argument(
        "--pipeline", action="append", required=True, help="stock, e5-softmax, e5-diet, config"
    )
    parser.add_argument(
        "--min-oos-recall",
        type=float,
        default=0.9,
        help="the OOS recall floor thresholds are chosen for (validation)",
    )
    parser.add_argument(
        "--folds",
        type=int,
        default=1,
        help="data sets without a validation split: validation folds to train (1-5)",
    )
    parser.add_argument(
        "--cached-parse",
        action="store_true",
        help="the Rasa server reads test texts' embeddings from the disk cache "
        "(big data sets on a busy machine; the row's latency is then not measured)",
    )
    parser.add_argument(
        "--retrain", action="store_true", help="also time a retrain after a one-question edit"
    )
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    if args.cached_parse:
        os.environ["HELPDESK_EMBEDDING_CACHE_AT_PARSE"] = "1"
    for name in args.dataset:
        source = load_source(name)
        for pipeline_name in args.pipeline:
            asyncio.run(run_row(source, pipeline_name, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
