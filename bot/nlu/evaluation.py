"""Scoring the NLU on a test file: what the bot would do with each line, and the metrics.

"Out of scope" means the bot would not answer on its own (it would clarify or hand
off), so a low-confidence prediction counts as ``out_of_scope`` here.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.knowledge.loader import KnowledgeBase
from bot.nlu.client import OUT_OF_SCOPE, NluClient, ParseResult
from bot.nlu.decision import Thresholds, decide
from bot.nlu.language import detect_language


class EvalFileError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class TestCase:
    text: str
    expect: str
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Prediction:
    text: str
    expect: str
    got: str
    confidence: float
    language: str
    latency_ms: float
    best: str | None = None
    """The model's top intent, answered or not."""
    reason: str = ""
    """Why the bot would (not) answer: see bot/nlu/decision.py."""
    similarity: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "expect": self.expect,
            "got": self.got,
            "confidence": round(self.confidence, 4),
            "language": self.language,
            "best": self.best,
            "reason": self.reason,
            **({"similarity": round(self.similarity, 4)} if self.similarity is not None else {}),
        }


def load_cases(path: Path) -> list[TestCase]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise EvalFileError(f"{path}: {exc}") from exc
    if not isinstance(data, list):
        raise EvalFileError(f"{path}: expected a list of {{text, expect}} items")
    cases: list[TestCase] = []
    for index, item in enumerate(data, start=1):
        if not isinstance(item, dict) or not item.get("text") or not item.get("expect"):
            raise EvalFileError(f"{path}: item {index} needs 'text' and 'expect'")
        cases.append(TestCase(str(item["text"]), str(item["expect"]), item.get("language")))
    return cases


@dataclass(frozen=True, slots=True)
class Parsed:
    """One test line and what the NLU said about it."""

    case: TestCase
    result: ParseResult
    latency_ms: float


async def parse_cases(nlu: NluClient, cases: list[TestCase]) -> list[Parsed]:
    """Parse every line, one at a time (so the latencies are those of a quiet server)."""
    parsed: list[Parsed] = []
    for case in cases:
        started = time.perf_counter()
        result = await nlu.parse(case.text)
        parsed.append(Parsed(case, result, (time.perf_counter() - started) * 1000))
    return parsed


def judge(
    parsed: list[Parsed],
    *,
    thresholds: Thresholds,
    known_faq: Callable[[str], bool],
    languages: list[str],
    default_language: str,
) -> list[Prediction]:
    """What the bot would do with each parsed line at this operating point."""
    predictions: list[Prediction] = []
    for item in parsed:
        case, result = item.case, item.result
        decision = decide(result, thresholds=thresholds, known_faq=known_faq)
        language = (
            case.language
            or detect_language(
                case.text, previous=None, hint=None, supported=languages, default=default_language
            ).language
        )
        predictions.append(
            Prediction(
                text=case.text,
                expect=case.expect,
                got=decision.intent if decision.answers and decision.intent else OUT_OF_SCOPE,
                confidence=result.confidence,
                language=language,
                latency_ms=item.latency_ms,
                best=result.intent,
                reason=decision.reason,
                similarity=result.similarity,
            )
        )
    return predictions


async def predict(
    nlu: NluClient,
    cases: list[TestCase],
    *,
    kb: KnowledgeBase,
    thresholds: Thresholds,
    languages: list[str],
    default_language: str,
) -> list[Prediction]:
    """Parse every line and judge it at this operating point."""
    parsed = await parse_cases(nlu, cases)
    return judge(
        parsed,
        thresholds=thresholds,
        known_faq=lambda faq_id: kb.get(faq_id) is not None,
        languages=languages,
        default_language=default_language,
    )


def _ratio(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def metrics(predictions: list[Prediction]) -> dict[str, Any]:
    in_scope = [p for p in predictions if p.expect != OUT_OF_SCOPE]
    oos = [p for p in predictions if p.expect == OUT_OF_SCOPE]
    said_oos = [p for p in predictions if p.got == OUT_OF_SCOPE]
    return {
        "n": len(predictions),
        "accuracy": _ratio(sum(p.got == p.expect for p in predictions), len(predictions)),
        "in_scope_accuracy": _ratio(sum(p.got == p.expect for p in in_scope), len(in_scope)),
        "oos_recall": _ratio(sum(p.got == OUT_OF_SCOPE for p in oos), len(oos)),
        "oos_precision": _ratio(sum(p.expect == OUT_OF_SCOPE for p in said_oos), len(said_oos)),
    }


def report(predictions: list[Prediction]) -> dict[str, Any]:
    languages = sorted({p.language for p in predictions})
    latencies = sorted(p.latency_ms for p in predictions)
    result = metrics(predictions)
    result["per_language"] = {
        lang: metrics([p for p in predictions if p.language == lang]) for lang in languages
    }
    if latencies:
        result["parse_ms"] = {
            "p50": round(statistics.median(latencies), 2),
            "p99": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 2),
        }
    result["predictions"] = [p.as_json() for p in predictions]
    return result
