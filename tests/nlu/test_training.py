"""Compiling the training data: the bot's own intents ship inside the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.nlu.training import EXAMPLES_DIR, TrainingError, load_core_intents


def test_the_core_intents_are_found_inside_the_package() -> None:
    names = {intent.name for intent in load_core_intents()}
    assert {"greet", "human_handoff", "create_ticket", "ticket_status"} <= names
    assert EXAMPLES_DIR.is_dir()


def test_a_missing_examples_folder_stops_training(tmp_path: Path) -> None:
    # Without the bot's own intents a model answers "hello" with an FAQ: refuse to train.
    with pytest.raises(TrainingError, match="no core intent examples"):
        load_core_intents(tmp_path)
