"""How much each training example counts in the intent softmax (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from bot.nlu_components.class_weights import COVERAGE, example_weights

# Two FAQ entries asked in English; one answered in Telugu too (an answer, not a
# question); the bot's small talk and out-of-scope examples in English and Telugu.
ROWS = [
    ("faq__refund", "LATIN", True),
    ("faq__refund", "LATIN", True),
    ("faq__refund", "TELUGU", False),
    ("faq__orders", "LATIN", True),
    ("greet", "LATIN", True),
    ("greet", "TELUGU", True),
    ("out_of_scope", "LATIN", True),
    ("out_of_scope", "LATIN", True),
    ("out_of_scope", "TELUGU", True),
    ("out_of_scope", "TELUGU", True),
]
LABELS = np.array([r[0] for r in ROWS])
SCRIPTS = np.array([r[1] for r in ROWS])
QUESTIONS = np.array([r[2] for r in ROWS])


def weights(balanced: bool, out_of_scope_weight: float | str) -> np.ndarray:
    return example_weights(
        LABELS,
        SCRIPTS,
        QUESTIONS,
        balanced=balanced,
        out_of_scope_intent="out_of_scope",
        out_of_scope_weight=out_of_scope_weight,
        faq_prefix="faq__",
    )


def totals(w: np.ndarray) -> dict[str, float]:
    return {str(label): float(w[label == LABELS].sum()) for label in np.unique(LABELS)}


def test_balanced_weights_give_every_intent_the_same_total() -> None:
    assert totals(weights(True, 1.0)) == pytest.approx(
        {"faq__orders": 2.5, "faq__refund": 2.5, "greet": 2.5, "out_of_scope": 2.5}
    )


def test_a_number_scales_every_out_of_scope_example() -> None:
    w = weights(False, 0.25)
    assert set(w[LABELS == "out_of_scope"]) == {0.25}
    assert set(w[LABELS != "out_of_scope"]) == {1.0}


def test_coverage_keeps_out_of_scope_where_the_faqs_are_asked() -> None:
    w = weights(False, COVERAGE)
    out_of_scope = LABELS == "out_of_scope"
    # Every FAQ entry has an English question: English out-of-scope examples count fully.
    assert set(w[out_of_scope & (SCRIPTS == "LATIN")]) == {1.0}
    # No FAQ question is Telugu (the Telugu answer does not count): Telugu out-of-scope
    # examples would teach "Telugu means out of scope", and count for nothing.
    assert set(w[out_of_scope & (SCRIPTS == "TELUGU")]) == {0.0}
    # The bot's own intents are never scaled.
    assert set(w[LABELS == "greet"]) == {1.0}


def test_coverage_is_the_share_of_entries_asked_in_the_script() -> None:
    asked = QUESTIONS.copy()
    asked[2] = True  # the Telugu refund text is a question now: 1 of 2 entries
    w = example_weights(
        LABELS,
        SCRIPTS,
        asked,
        balanced=False,
        out_of_scope_intent="out_of_scope",
        out_of_scope_weight=COVERAGE,
        faq_prefix="faq__",
    )
    assert set(w[(LABELS == "out_of_scope") & (SCRIPTS == "TELUGU")]) == {0.5}


def test_without_faqs_nothing_is_scaled() -> None:
    core = LABELS != "faq__refund"
    core &= LABELS != "faq__orders"
    w = example_weights(
        LABELS[core],
        SCRIPTS[core],
        QUESTIONS[core],
        balanced=False,
        out_of_scope_intent="out_of_scope",
        out_of_scope_weight=COVERAGE,
        faq_prefix="faq__",
    )
    assert set(w) == {1.0}
