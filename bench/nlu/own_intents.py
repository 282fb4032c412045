"""The bot's own intents with and without their evidence rule (bot/nlu/evidence.py).

    .venv/bin/python -m bench.nlu.own_intents --tests eval/own_intents_validation.yml \
        --validation build/tune.json

Trains (or reuses) the model of the knowledge base as ``helpdesk nlu eval`` does, parses
each test file once and judges every line twice at the configured thresholds: with the
rule (what the bot does) and without it (the model's ranking as it is). With
``--validation`` (the JSON of ``helpdesk nlu tune --json``: the held-out folds of the
knowledge base and core intents, each parsed by a model that did not see it) the same
two judgements are made on those lines, so a change is seen on data it was not chosen
on as well. Prints one JSON object; the test file ``eval/demo_heldout.yml`` is for
``bench.nlu.run``, not for this.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bot.nlu.decision
from bot.knowledge.loader import load_knowledge_base
from bot.nlu.client import OUT_OF_SCOPE, IntentScore, ParseResult
from bot.nlu.evaluation import Parsed, Prediction, TestCase, judge, load_cases
from bot.nlu.thresholds import configured
from bot.nlu.training import train_for
from bot.nlu.tuning import parse_with_model
from bot.settings import load_settings

OWN = ("ticket_status", "human_handoff", "feedback", "create_ticket")


@contextmanager
def evidence(on: bool) -> Iterator[None]:
    """Judge with the rule (as shipped) or without it."""
    module: Any = bot.nlu.decision
    original = module.require_evidence
    if not on:
        module.require_evidence = lambda result: result
    try:
        yield
    finally:
        module.require_evidence = original


def summary(predictions: list[Prediction]) -> dict[str, Any]:
    faq = [p for p in predictions if p.expect.startswith("faq/")]
    own = [p for p in predictions if p.expect in OWN]
    in_scope = [p for p in predictions if p.expect != OUT_OF_SCOPE]
    oos = [p for p in predictions if p.expect == OUT_OF_SCOPE]

    def acc(group: list[Prediction]) -> float | None:
        return round(sum(p.got == p.expect for p in group) / len(group), 4) if group else None

    stolen = Counter(p.got for p in faq if p.got in OWN)
    return {
        "n": len(predictions),
        "in_scope_accuracy": acc(in_scope),
        "faq_accuracy": acc(faq),
        "own_intents_accuracy": acc(own),
        "faq_taken_by_own_intents": dict(stolen),
        "oos_recall": round(sum(p.got == OUT_OF_SCOPE for p in oos) / len(oos), 4) if oos else None,
    }


def both(parsed: list[Parsed], judge_at: Callable[[list[Parsed]], list[Prediction]]) -> Any:
    out: dict[str, Any] = {}
    for on in (False, True):
        with evidence(on):
            predictions = judge_at(parsed)
        out["with_rule" if on else "without_rule"] = summary(predictions)
        if on:
            out["lines"] = [p.as_json() for p in predictions]
    return out


def from_tune_json(path: Path) -> list[Parsed]:
    data = json.loads(path.read_text(encoding="utf-8"))
    parsed = []
    for line in data["validation"]:
        result = ParseResult(
            text=line["text"],
            intent=line["intent"],
            confidence=line["confidence"],
            ranking=tuple(IntentScore(s["name"], s["confidence"]) for s in line["ranking"]),
            from_command=line.get("command", False),
            similarity=line.get("similarity"),
        )
        parsed.append(Parsed(TestCase(line["text"], line["expect"]), result, 0.0))
    return parsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=Path("config.yml"))
    parser.add_argument("--kb", type=Path, default=Path("knowledge_base"))
    parser.add_argument("--tests", type=Path, action="append", default=[])
    parser.add_argument("--validation", type=Path, help="helpdesk nlu tune --json output")
    parser.add_argument("--lines", action="store_true", help="print every judged line too")
    args = parser.parse_args()
    settings, _ = load_settings(args.config)
    kb = load_knowledge_base(args.kb, default_language=settings.bot.default_language)

    def judge_at(parsed: list[Parsed]) -> list[Prediction]:
        return judge(
            parsed,
            thresholds=configured(settings.nlu),
            known_faq=lambda faq_id: kb.get(faq_id) is not None,
            languages=settings.bot.languages,
            default_language=settings.bot.default_language,
        )

    report: dict[str, Any] = {"thresholds": str(configured(settings.nlu))}
    if args.tests:
        model = await train_for(kb, settings.nlu, progress=lambda _: None)
        for tests in args.tests:
            parsed = await parse_with_model(
                model, load_cases(tests), rasa_venv=settings.nlu.rasa_venv
            )
            report[str(tests)] = both(parsed, judge_at)
    if args.validation:
        report[str(args.validation)] = both(from_tune_json(args.validation), judge_at)
    if not args.lines:
        for value in report.values():
            if isinstance(value, dict):
                value.pop("lines", None)
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
