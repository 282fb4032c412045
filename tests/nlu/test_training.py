"""Compiling the training data: the bot's own intents ship inside the package."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.knowledge.loader import FaqEntry, KnowledgeBase
from bot.nlu.client import RASA_FAQ_PREFIX
from bot.nlu.training import (
    ANSWER_METADATA,
    COMPONENTS_DIR,
    EXAMPLES_DIR,
    CoreIntent,
    TrainingError,
    compile_project,
    load_core_intents,
)


def test_the_core_intents_are_found_inside_the_package() -> None:
    names = {intent.name for intent in load_core_intents()}
    assert {"greet", "human_handoff", "create_ticket", "ticket_status"} <= names
    assert EXAMPLES_DIR.is_dir()


def test_a_missing_examples_folder_stops_training(tmp_path: Path) -> None:
    # Without the bot's own intents a model answers "hello" with an FAQ: refuse to train.
    with pytest.raises(TrainingError, match="no core intent examples"):
        load_core_intents(tmp_path)


KB = KnowledgeBase(
    {
        "refund": FaqEntry(
            "refund",
            {"en": ("when do I get my money back", "refund status")},
            {"en": "Refunds take 5-7 working days.", "te": "రీఫండ్ 5-7 పని దినాల్లో వస్తుంది."},
        )
    }
)
CORE = [CoreIntent("greet", {"en": ("hello", "hi")})]
PIPELINE: list[dict[str, object]] = [{"name": "WhitespaceTokenizer"}]


def compiled_examples(tmp_path: Path, *, answers: bool) -> dict[str, Any]:
    project = compile_project(KB, pipeline=PIPELINE, build_dir=tmp_path, core=CORE, answers=answers)
    doc = yaml.safe_load(project.nlu_file.read_text(encoding="utf-8"))
    return {block["intent"]: block["examples"] for block in doc["nlu"]}


def test_answers_are_training_examples_marked_as_answers(tmp_path: Path) -> None:
    refund = compiled_examples(tmp_path, answers=True)["faq__refund"]
    assert isinstance(refund, list)
    answers = [e["text"] for e in refund if e.get("metadata") == ANSWER_METADATA]
    questions = [e["text"] for e in refund if "metadata" not in e]
    assert sorted(answers) == sorted(KB.entries["refund"].answers.values())
    assert questions == ["when do I get my money back", "refund status"]


def test_without_answers_only_the_questions_are_trained(tmp_path: Path) -> None:
    refund = compiled_examples(tmp_path, answers=False)["faq__refund"]
    assert refund == "- when do I get my money back\n- refund status\n"


def test_an_answer_edit_changes_the_model_fingerprint(tmp_path: Path) -> None:
    before = compile_project(KB, pipeline=PIPELINE, build_dir=tmp_path / "a", core=CORE)
    entry = KB.entries["refund"]
    edited = KnowledgeBase(
        {"refund": replace(entry, answers={**entry.answers, "en": "Refunds take a week."})}
    )
    after = compile_project(edited, pipeline=PIPELINE, build_dir=tmp_path / "b", core=CORE)
    assert after.fingerprint != before.fingerprint


def test_the_featurizer_recognises_the_answer_marker() -> None:
    # bot/nlu_components imports nothing of the bot, so it repeats the marker; Rasa
    # cannot be imported here, so the component's source is read.
    source = (COMPONENTS_DIR / "sentence_embeddings.py").read_text(encoding="utf-8")
    [(key, value)] = ANSWER_METADATA.items()
    assert f'ANSWER_KEY, ANSWER_VALUE = "{key}", "{value}"' in source


def test_the_classifier_knows_how_faq_intents_are_named() -> None:
    # The out-of-scope weighting counts FAQ entries by this prefix (class_weights.py).
    source = (COMPONENTS_DIR / "embedding_classifier.py").read_text(encoding="utf-8")
    assert f'"faq_prefix": "{RASA_FAQ_PREFIX}"' in source
