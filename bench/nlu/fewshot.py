"""Few-shot NLU: CLINC150 and BANKING77 with 5 or 10 examples per intent, and the
"sparse demo" (the demo knowledge base cut to 3 English questions per FAQ).

    .venv/bin/python -m bench.nlu.fewshot --quick --dataset clinc150 --shots 5 --pipeline e5-softmax
    .venv/bin/python -m bench.nlu.fewshot --quick --dataset sparse-demo --pipeline e5-softmax \
        --pipeline e5-unbalanced --pipeline stock
    .venv/bin/python -m bench.nlu.fewshot --table      # the summary table of every row so far

Each row goes the project's own path (``bot.nlu.training`` -> a Rasa server ->
``RasaClient.parse`` over HTTP), as ``bench.nlu.run`` does: thresholds chosen by
``bot.nlu.thresholds.choose`` on validation lines only, then the test lines scored at
that point (``bot.nlu.evaluation.judge``: the bot's own rule, evidence and declines
included).

- **clinc150 / banking77**: for each seed, ``--shots`` training examples per intent drawn
  from the training split (``random.Random(seed)``). CLINC150 keeps all 100 ``oos_train``
  examples as the out-of-scope class (a deployment's own out-of-scope examples are not
  per-intent shots). Validation: CLINC150 ``val`` + ``oos_val``; BANKING77 the 1 in 10
  of train that ``bench.nlu.datasets`` holds out (never drawn for training).
- **sparse-demo**: every FAQ entry of ``knowledge_base/`` keeps its first 3 English
  questions (nothing in other languages); the core intents keep all their examples.
  Validation: every other question of the full knowledge base (all five languages, so
  what the sparse model never saw) + ``eval/demo_validation.yml``; test:
  ``eval/demo_heldout.yml`` (five languages), scored per language.
- ``--quick`` caps validation and test lines per label with a fixed seed (see
  ``QUICK``) and draws 2 seeds instead of 3: the machine is shared.
- **e5-unbalanced**: e5-softmax without class weighting (``class_weight: null``): what
  the balanced weighting of the shipped classifier is worth.

One JSON per row in ``bench/nlu/results/fewshot/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bench.nlu import datasets
from bench.nlu.pipelines import E5, SOFTMAX
from bench.nlu.pipelines import pipeline as named_pipeline
from bot.knowledge.loader import FaqEntry, KnowledgeBase, load_knowledge_base
from bot.nlu.client import FAQ_PREFIX, OUT_OF_SCOPE
from bot.nlu.evaluation import Parsed, TestCase, judge, load_cases, report
from bot.nlu.thresholds import Observation, choose
from bot.nlu.training import CoreIntent, compile_project, load_core_intents, train
from bot.nlu.tuning import parse_with_model

ROOT = datasets.ROOT
RESULTS = ROOT / "bench" / "nlu" / "results" / "fewshot"
WORK = ROOT / "build" / "bench-fewshot"
MODELS = ROOT / ".cache" / "bench-models"
RASA_VENV = ROOT / ".venv-rasa"
LANGUAGES = ["en", "gu", "te", "ka", "hi"]
QUICK = {"validation_per_label": 3, "test_per_label": 6, "oos_validation": 100, "oos_test": 200}
SPARSE_QUESTIONS = 3

EXTRA_PIPELINES: dict[str, list[dict[str, Any]]] = {
    "e5-unbalanced": [
        {"name": "WhitespaceTokenizer"},
        {"name": E5},
        {"name": SOFTMAX, "class_weight": None},
    ],
}


def log(line: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {line}", file=sys.stderr, flush=True)


def pipeline_for(name: str) -> list[dict[str, Any]]:
    extra: list[dict[str, Any]] | None = EXTRA_PIPELINES.get(name)
    return extra if extra is not None else named_pipeline(name)


def _cap(
    rows: list[datasets.Example], per_label: int, oos: int, seed: int
) -> list[datasets.Example]:
    """At most ``per_label`` rows of each label (``oos`` of out-of-scope), drawn with ``seed``."""
    grouped: dict[str, list[datasets.Example]] = defaultdict(list)
    for row in rows:
        grouped[row[1]].append(row)
    rng = random.Random(seed)
    out: list[datasets.Example] = []
    for label in sorted(grouped):
        group = grouped[label]
        keep = oos if label == datasets.OUT_OF_SCOPE else per_label
        out += rng.sample(group, min(keep, len(group)))
    return out


def _expect(label: str) -> str:
    return OUT_OF_SCOPE if label == datasets.OUT_OF_SCOPE else FAQ_PREFIX + label


class Row:
    def __init__(
        self,
        name: str,
        kb: KnowledgeBase,
        core: list[CoreIntent],
        validation: list[TestCase],
        test: list[TestCase],
        note: str,
        answers: bool,
    ) -> None:
        self.name, self.kb, self.core, self.note = name, kb, core, note
        # Whether the entries' answers are real text to train on (not just labels).
        self.answers = answers
        self.validation, self.test = validation, test


def few_shot(name: str, shots: int, seed: int, quick: bool) -> Row:
    ds = datasets.load(name)
    grouped = ds.examples_by_label()
    oos = grouped.pop(datasets.OUT_OF_SCOPE, [])
    rng = random.Random(seed)
    entries = {
        label: FaqEntry(
            id=label,
            questions={"en": tuple(rng.sample(texts, min(shots, len(texts))))},
            answers={"en": label},
        )
        for label, texts in sorted(grouped.items())
    }
    core = [CoreIntent(OUT_OF_SCOPE, {"en": tuple(oos)})] if oos else []
    validation, test = ds.validation, ds.test
    if quick:
        validation = _cap(validation, QUICK["validation_per_label"], QUICK["oos_validation"], 1)
        test = _cap(test, QUICK["test_per_label"], QUICK["oos_test"], 2)

    def cases(rows: list[datasets.Example]) -> list[TestCase]:
        return [TestCase(text, _expect(label), "en") for text, label in rows]

    note = f"{shots} per intent, seed {seed}" + (", quick" if quick else "")
    return Row(
        # Full splits apart from the quick (capped) ones: the table averages draws by name.
        f"{name}-{shots}shot" + ("" if quick else "-full") + f"-s{seed}",
        KnowledgeBase(entries),
        core,
        cases(validation),
        cases(test),
        note,
        answers=False,
    )


def sparse_demo(quick: bool) -> Row:
    full = load_knowledge_base(ROOT / "knowledge_base", default_language="en")
    entries = {}
    validation: list[TestCase] = []
    rng = random.Random(3)
    for entry in full:
        kept = entry.questions["en"][:SPARSE_QUESTIONS]
        entries[entry.id] = replace(entry, questions={"en": kept})
        for language, texts in entry.questions.items():
            rest = [t for t in texts if language != "en" or t not in kept]
            if quick:
                rest = rng.sample(rest, min(2, len(rest)))
            validation += [TestCase(t, FAQ_PREFIX + entry.id, language) for t in rest]
    validation += load_cases(ROOT / "eval" / "demo_validation.yml")
    test = load_cases(ROOT / "eval" / "demo_heldout.yml")
    note = f"{SPARSE_QUESTIONS} English questions per FAQ; core intents full" + (
        ", quick" if quick else ""
    )
    kb = KnowledgeBase(entries)
    return Row("sparse-demo", kb, load_core_intents(), validation, test, note, answers=True)


async def run_row(row: Row, pipeline_name: str, args: argparse.Namespace) -> dict[str, Any]:
    pipeline = pipeline_for(pipeline_name)
    known = lambda faq_id: row.kb.get(faq_id) is not None  # noqa: E731
    out: dict[str, Any] = {
        "row": row.name,
        "note": row.note,
        "pipeline_name": pipeline_name,
        "train_examples": sum(len(q) for e in row.kb for q in e.questions.values())
        + sum(len(t) for c in row.core for t in c.examples.values()),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "command": "python -m bench.nlu.fewshot " + " ".join(sys.argv[1:]),
    }
    build = WORK / f"{row.name}__{pipeline_name}"
    project = compile_project(
        row.kb, pipeline=pipeline, build_dir=build, core=row.core, answers=row.answers
    )
    started = time.perf_counter()
    model = await train(project, models_dir=MODELS, rasa_venv=RASA_VENV, progress=lambda _: None)
    out["train_s"] = round(time.perf_counter() - started, 1)
    log(
        f"{row.name}/{pipeline_name}: trained ({out['train_s']} s); parsing "
        f"{len(row.validation)} + {len(row.test)} lines"
    )
    parsed = await parse_with_model(
        model,
        row.validation + row.test,
        rasa_venv=RASA_VENV,
        log_file=WORK / "logs" / f"{row.name}__{pipeline_name}.log",
    )
    val_parsed, test_parsed = parsed[: len(row.validation)], parsed[len(row.validation) :]
    observations = [Observation(p.result, p.case.expect) for p in val_parsed]
    choice = choose(observations, known_faq=known, min_oos_recall=args.min_oos_recall)
    out["thresholds"] = choice.as_json()
    out["validation_faq_ceiling"] = faq_ceiling(val_parsed)
    judged = judge(
        test_parsed,
        thresholds=choice.thresholds,
        known_faq=known,
        languages=LANGUAGES,
        default_language="en",
    )
    full = report(judged)
    out["test"] = {k: v for k, v in full.items() if k not in ("predictions",)}
    # Reported, never chosen on (the thresholds above come from validation lines only).
    out["test_faq_ceiling"] = faq_ceiling(test_parsed, [j.language for j in judged])
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{row.name}__{pipeline_name}.json"
    path.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    test = out["test"]
    log(f"wrote {path}: in-scope {test['in_scope_accuracy']} OOS {test['oos_recall']}")
    return out


def faq_ceiling(parsed: list[Parsed], languages: list[str] | None = None) -> dict[str, float]:
    """Per language, the share of in-scope lines whose best-ranked FAQ entry is the right
    one, whatever the bot's own intents and the thresholds say: what a perfect choice
    between "an FAQ" and "not an FAQ" would reach with this model's FAQ ranking.
    ``languages``: each line's, where the cases do not say (the test file's are detected)."""
    hits: dict[str, list[bool]] = {}
    for index, p in enumerate(parsed):
        language = p.case.language or (languages[index] if languages else "en")
        if p.case.expect.startswith(FAQ_PREFIX):
            guesses = p.result.faq_guesses(1)
            found = bool(guesses) and FAQ_PREFIX + guesses[0] == p.case.expect
            hits.setdefault(language, []).append(found)
            hits.setdefault("all", []).append(found)
    return {language: round(sum(h) / len(h), 4) for language, h in sorted(hits.items())}


def _pct(values: list[float]) -> str:
    if not values:
        return "-"
    mean = 100 * statistics.mean(values)
    if len(values) == 1:
        return f"{mean:.1f}"
    return f"{mean:.1f} ± {100 * statistics.stdev(values):.1f}"


def table() -> str:
    """Mean ± sd over seeds of every row in RESULTS, one line per (data set, shots, pipeline)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for path in sorted(RESULTS.glob("*.json")):
        row = json.loads(path.read_text(encoding="utf-8"))
        base = re.sub(r"-s\d+$", "", row["row"])  # draws (seeds) of one row average together
        groups[(base, row["pipeline_name"])].append(row)
    lines = [
        "| data set | pipeline | draws | in-scope acc | OOS recall "
        "| en | gu | te | ka | hi | train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (base, pipeline_name), rows in sorted(groups.items()):

        def values(key: str, rows: list[dict[str, Any]] = rows) -> list[float]:
            return [r["test"][key] for r in rows if r["test"].get(key) is not None]

        def language(lang: str, rows: list[dict[str, Any]] = rows, base: str = base) -> str:
            found = [
                r["test"]["per_language"][lang]["in_scope_accuracy"]
                for r in rows
                if lang in r["test"].get("per_language", {})
                and r["test"]["per_language"][lang]["in_scope_accuracy"] is not None
            ]
            return _pct(found) if base == "sparse-demo" else "-"

        train_s = statistics.mean(r["train_s"] for r in rows)
        lines.append(
            f"| {base} | {pipeline_name} | {len(rows)} | {_pct(values('in_scope_accuracy'))} | "
            f"{_pct(values('oos_recall'))} | "
            + " | ".join(language(lang) for lang in LANGUAGES)
            + f" | {train_s:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.nlu.fewshot", description=__doc__)
    parser.add_argument(
        "--dataset", action="append", default=[], help="clinc150, banking77, sparse-demo"
    )
    parser.add_argument("--shots", type=int, action="append", default=[])
    parser.add_argument("--seed", type=int, action="append", default=[])
    parser.add_argument("--pipeline", action="append", default=[])
    parser.add_argument("--quick", action="store_true", help="capped lines, 2 seeds")
    parser.add_argument("--min-oos-recall", type=float, default=0.9)
    parser.add_argument("--table", action="store_true", help="print the summary table")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    if args.table:
        print(table())
        return 0
    seeds = args.seed or ([0, 1] if args.quick else [0, 1, 2])
    for name in args.dataset:
        if name == "sparse-demo":
            rows = [sparse_demo(args.quick)]
        else:
            rows = [few_shot(name, k, s, args.quick) for k in args.shots or [5, 10] for s in seeds]
        for row in rows:
            for pipeline_name in args.pipeline or ["e5-softmax"]:
                asyncio.run(run_row(row, pipeline_name, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
