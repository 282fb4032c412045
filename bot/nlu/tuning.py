"""Validation data from the knowledge base itself, and the commands that tune and score.

``helpdesk nlu tune`` holds out every ``every``-th question of each FAQ entry,
language and core intent (out-of-scope examples included), trains a model on the
rest, parses the held-out questions, chooses the thresholds on them
(:func:`bot.nlu.thresholds.choose`) and writes them to ``config.yml``. The test file
(``eval/demo_heldout.yml``) is never read. Extra labelled validation lines (the
``helpdesk nlu eval`` format) can be added with ``--validation FILE``.

``helpdesk nlu eval`` (:func:`evaluate`) trains (or reuses) a model for a knowledge base
and scores a test file at the configured thresholds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.knowledge.loader import KnowledgeBase, load_knowledge_base
from bot.nlu.client import FAQ_PREFIX
from bot.nlu.evaluation import Parsed, TestCase, judge, load_cases, parse_cases, report
from bot.nlu.rasa_server import RasaSupervisor
from bot.nlu.thresholds import Choice, Observation, choose, configured
from bot.nlu.training import (
    CoreIntent,
    compile_project,
    load_core_intents,
    train,
    train_for,
)
from bot.settings import Settings


def _split(
    texts: tuple[str, ...], every: int, offset: int
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    # The first question stays in training: an entry must never lose all its examples
    # in a language. The offset moves the held-out position from entry to entry, so
    # languages with only a few questions are held out too (in some entries).
    held_at = {i for i in range(1, len(texts)) if (i + offset) % every == 0}
    kept = tuple(t for i, t in enumerate(texts) if i not in held_at)
    held = tuple(t for i, t in enumerate(texts) if i in held_at)
    return kept, held


def split_fold(
    kb: KnowledgeBase, core: list[CoreIntent], *, every: int = 5, fold: int = 0
) -> tuple[KnowledgeBase, list[CoreIntent], list[TestCase]]:
    """(training knowledge base, training core intents, held-out validation lines).

    Folds ``0 .. every-1`` hold out disjoint questions.
    """
    if every < 2:
        raise ValueError("every must be at least 2")
    held_out: list[TestCase] = []
    entries = {}
    for index, entry in enumerate(kb):
        questions = {}
        for language, texts in entry.questions.items():
            kept, held = _split(texts, every, index + fold)
            questions[language] = kept
            held_out += [TestCase(t, FAQ_PREFIX + entry.id, language) for t in held]
        entries[entry.id] = replace(entry, questions=questions)
    intents = []
    for index, intent in enumerate(core):
        examples = {}
        for language, texts in intent.examples.items():
            kept, held = _split(texts, every, index + fold)
            examples[language] = kept
            held_out += [TestCase(t, intent.name, language) for t in held]
        intents.append(CoreIntent(intent.name, examples))
    return KnowledgeBase(entries), intents, held_out


async def parse_with_model(
    model: Path,
    cases: list[TestCase],
    *,
    rasa_venv: Path,
    startup_timeout_s: float = 180.0,
    log_file: Path = Path("build/logs/rasa-eval.log"),
    on_ready: Callable[[RasaSupervisor], None] | None = None,
) -> list[Parsed]:
    """Serve ``model`` on a private Rasa server, parse every line, stop the server."""
    supervisor = RasaSupervisor(rasa_venv=rasa_venv, model=model, log_file=log_file)
    await supervisor.start()
    client = supervisor.client(timeout_s=30)
    try:
        await supervisor.wait_ready(startup_timeout_s)
        if on_ready is not None:
            on_ready(supervisor)
        return await parse_cases(client, cases)
    finally:
        await client.close()
        await supervisor.stop()


async def validation_parses(
    settings: Settings,
    kb: KnowledgeBase,
    core: list[CoreIntent],
    *,
    every: int = 5,
    folds: int = 1,
    pipeline: list[dict[str, Any]] | None = None,
    build_root: Path | None = None,
    progress: Callable[[str], None] = print,
) -> list[Parsed]:
    """Train one model per fold (on the rest) and parse that fold's held-out lines."""
    parsed: list[Parsed] = []
    for fold in range(folds):
        kb_train, core_train, cases = split_fold(kb, core, every=every, fold=fold)
        project = compile_project(
            kb_train,
            pipeline=pipeline if pipeline is not None else settings.nlu.pipeline,
            build_dir=(build_root or settings.nlu.build_dir.parent / "thresholds") / f"fold{fold}",
            core=core_train,
        )
        model = await train(
            project,
            models_dir=settings.nlu.models_dir,
            rasa_venv=settings.nlu.rasa_venv,
            progress=progress,
        )
        progress(f"fold {fold + 1}/{folds}: parsing {len(cases)} held-out lines ...")
        parsed += await parse_with_model(
            model,
            cases,
            rasa_venv=settings.nlu.rasa_venv,
            startup_timeout_s=settings.nlu.startup_timeout_s,
        )
    return parsed


async def tune(
    settings: Settings,
    *,
    kb_dir: Path,
    every: int = 5,
    folds: int = 1,
    min_oos_recall: float = 0.9,
    extra: Path | None = None,
    progress: Callable[[str], None] = print,
) -> tuple[Choice, list[Parsed]]:
    """Train on the knowledge base minus held-out folds; choose thresholds on the folds."""
    kb = load_knowledge_base(kb_dir, default_language=settings.bot.default_language)
    parsed = await validation_parses(
        settings, kb, load_core_intents(), every=every, folds=folds, progress=progress
    )
    if extra is not None:
        model = await train(
            compile_project(
                kb,
                pipeline=settings.nlu.pipeline,
                build_dir=settings.nlu.build_dir.parent / "thresholds" / "full",
            ),
            models_dir=settings.nlu.models_dir,
            rasa_venv=settings.nlu.rasa_venv,
            progress=progress,
        )
        parsed += await parse_with_model(
            model,
            load_cases(extra),
            rasa_venv=settings.nlu.rasa_venv,
            startup_timeout_s=settings.nlu.startup_timeout_s,
        )
    observations = [Observation(p.result, p.case.expect) for p in parsed]
    choice = choose(
        observations, known_faq=lambda i: kb.get(i) is not None, min_oos_recall=min_oos_recall
    )
    return choice, parsed


async def evaluate(
    settings: Settings, *, kb_dir: Path, tests: Path, progress: Callable[[str], None] = print
) -> dict[str, Any]:
    """Score ``tests`` on a model of ``kb_dir`` at the configured thresholds (the report
    format of ``helpdesk nlu eval``, predictions included)."""
    kb = load_knowledge_base(kb_dir, default_language=settings.bot.default_language)
    cases = load_cases(tests)
    build_dir = settings.nlu.build_dir.parent / f"eval-{kb_dir.resolve().name}"
    model = await train_for(kb, settings.nlu, progress=progress, build_dir=build_dir)
    parsed = await parse_with_model(
        model,
        cases,
        rasa_venv=settings.nlu.rasa_venv,
        startup_timeout_s=settings.nlu.startup_timeout_s,
    )
    predictions = judge(
        parsed,
        thresholds=configured(settings.nlu),
        known_faq=lambda faq_id: kb.get(faq_id) is not None,
        languages=settings.bot.languages,
        default_language=settings.bot.default_language,
    )
    return report(predictions)


def _round(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def validation_json(choice: Choice, parsed: list[Parsed]) -> dict[str, Any]:
    """The chosen point and every validation line's parse (``helpdesk nlu tune --json``)."""
    return {
        **choice.as_json(),
        "validation": [
            {"text": p.case.text, "expect": p.case.expect, **p.result.as_json()} for p in parsed
        ],
    }


def provenance(choice: Choice, command: str) -> str:
    """The comment written above the thresholds in the config: how they were chosen."""
    return (
        f"chosen by `{command}` on {choice.n} validation lines "
        f"(in-scope accuracy {_round(choice.in_scope_accuracy)}, "
        f"OOS recall {_round(choice.oos_recall)}); declined as out of scope: "
        f"in-scope {_round(choice.declined_in_scope)}, OOS {_round(choice.declined_oos)}"
    )
