"""Romanized Hindi, Gujarati and Telugu: what the bot understands, and in which language
it would reply.

    .venv/bin/python -m bench.nlu.romanized --tests eval/romanized_validation.yml
    .venv/bin/python -m bench.nlu.romanized --tests eval/romanized_heldout.yml

Trains (or reuses) the demo knowledge base's model as ``helpdesk nlu eval`` does, parses
every line, judges it at the configured thresholds (``bot.nlu.evaluation.judge``) and
detects its language as a first message would be (``bot.nlu.language.detect_language``,
no earlier language). Each line's ``language`` is the language the reply should be in.
Prints one JSON object per file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from bot.knowledge.loader import load_knowledge_base
from bot.nlu.evaluation import judge, load_cases
from bot.nlu.language import detect_language
from bot.nlu.thresholds import configured
from bot.nlu.training import train_for
from bot.nlu.tuning import parse_with_model
from bot.settings import load_settings


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=Path("config.yml"))
    parser.add_argument("--kb", type=Path, default=Path("knowledge_base"))
    parser.add_argument("--tests", type=Path, action="append", required=True)
    parser.add_argument("--lines", action="store_true", help="print every line too")
    args = parser.parse_args()
    settings, _ = load_settings(args.config)
    languages = settings.bot.languages
    kb = load_knowledge_base(args.kb, default_language=settings.bot.default_language)
    model = await train_for(kb, settings.nlu, progress=lambda _: None)
    for tests in args.tests:
        cases = load_cases(tests)
        parsed = await parse_with_model(model, cases, rasa_venv=settings.nlu.rasa_venv)
        predictions = judge(
            parsed,
            thresholds=configured(settings.nlu),
            known_faq=lambda faq_id: kb.get(faq_id) is not None,
            languages=languages,
            default_language=settings.bot.default_language,
        )
        lines: list[dict[str, Any]] = []
        for case, prediction in zip(cases, predictions, strict=True):
            detected = detect_language(
                case.text,
                previous=None,
                hint=None,
                supported=languages,
                default=settings.bot.default_language,
            )
            lines.append(
                {**prediction.as_json(), "detected": detected.language, "source": detected.source}
            )
        by_language: dict[str, dict[str, Any]] = {}
        for language in sorted({str(line["language"]) for line in lines}):
            mine = [line for line in lines if line["language"] == language]
            by_language[language] = {
                "n": len(mine),
                "understood": round(sum(m["got"] == m["expect"] for m in mine) / len(mine), 3),
                "language_detected": round(
                    sum(m["detected"] == language for m in mine) / len(mine), 3
                ),
            }
        report: dict[str, Any] = {
            "file": str(tests),
            "n": len(lines),
            "understood": round(sum(m["got"] == m["expect"] for m in lines) / len(lines), 3),
            "language_detected": round(
                sum(m["detected"] == m["language"] for m in lines) / len(lines), 3
            ),
            "per_language": by_language,
        }
        if args.lines:
            report["lines"] = lines
        print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
