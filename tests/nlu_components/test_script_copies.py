"""FAQ questions copied into the scripts their entry is not asked in (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from bot.nlu_components.script_copies import script_copies, script_shifts

# A toy feature space: axis 0 is "greeting", axis 1 "refund", axis 2 "orders"; the
# language adds axis 3 (Telugu) or axis 4 (Georgian) on top of the meaning.
GREET, REFUND, ORDERS, TELUGU, GEORGIAN = np.eye(5)


def copies(
    rows: list[tuple[str, str, bool, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labels = np.array([r[0] for r in rows])
    scripts = np.array([r[1] for r in rows])
    questions = np.array([r[2] for r in rows])
    features = np.stack([r[3] for r in rows]).astype(np.float32)
    weights = np.arange(1, len(rows) + 1, dtype=float)
    return script_copies(
        features,
        labels,
        scripts,
        questions,
        weights,
        faq_prefix="faq__",
        out_of_scope_intent="out_of_scope",
    )


OWN_INTENTS = [
    ("greet", "LATIN", True, GREET),
    ("greet", "TELUGU", True, GREET + TELUGU),
    ("greet", "GEORGIAN", True, GREET + GEORGIAN),
    # Out-of-scope texts differ by more than their language: never a shift's source.
    ("out_of_scope", "LATIN", True, ORDERS * 3),
    ("out_of_scope", "TELUGU", True, -REFUND + TELUGU),
]


def test_the_shift_between_two_scripts_is_what_the_own_intents_show() -> None:
    labels = np.array([r[0] for r in OWN_INTENTS])
    scripts = np.array([r[1] for r in OWN_INTENTS])
    features = np.stack([r[3] for r in OWN_INTENTS])
    shifts = script_shifts(features, labels, scripts, {"greet"})
    assert shifts[("LATIN", "TELUGU")] == pytest.approx(TELUGU)
    assert shifts[("TELUGU", "GEORGIAN")] == pytest.approx(GEORGIAN - TELUGU)
    assert ("LATIN", "LATIN") not in shifts


def test_an_english_only_entry_gets_a_copy_of_each_question_in_every_other_script() -> None:
    rows = [
        *OWN_INTENTS,
        ("faq__refund", "LATIN", True, REFUND),
        ("faq__refund", "LATIN", True, REFUND * 2),
    ]
    features, labels, weights = copies(rows)
    assert list(labels) == ["faq__refund"] * 4
    expected = [REFUND + GEORGIAN, REFUND + TELUGU, REFUND * 2 + GEORGIAN, REFUND * 2 + TELUGU]
    expected = [e / np.linalg.norm(e) for e in expected]
    assert features == pytest.approx(np.stack(expected), abs=1e-6)
    # Each copy counts as much as the question it was made from (rows 6 and 7).
    assert list(weights) == [6.0, 6.0, 7.0, 7.0]


def test_a_script_the_entry_is_asked_in_gets_no_copies() -> None:
    rows = [
        *OWN_INTENTS,
        ("faq__refund", "LATIN", True, REFUND),
        ("faq__refund", "TELUGU", True, REFUND + TELUGU),
        ("faq__orders", "LATIN", True, ORDERS),
    ]
    _, labels, _ = copies(rows)
    # Refund lacks only Georgian (from each of its 2 questions); orders lacks both.
    assert sorted(labels) == ["faq__orders", "faq__orders", "faq__refund", "faq__refund"]


def test_answers_are_neither_copied_nor_count_as_asking_the_entry() -> None:
    rows = [
        *OWN_INTENTS,
        ("faq__refund", "LATIN", True, REFUND),
        # The entry's Telugu answer: the entry is still not asked in Telugu.
        ("faq__refund", "TELUGU", False, REFUND + TELUGU),
    ]
    features, labels, _ = copies(rows)
    assert len(labels) == 2
    assert features[1] == pytest.approx((REFUND + TELUGU) / np.sqrt(2), abs=1e-6)


def test_nothing_is_added_where_every_entry_is_asked_in_every_script() -> None:
    rows = [
        *OWN_INTENTS,
        ("faq__refund", "LATIN", True, REFUND),
        ("faq__refund", "TELUGU", True, REFUND + TELUGU),
        ("faq__refund", "GEORGIAN", True, REFUND + GEORGIAN),
    ]
    features, labels, weights = copies(rows)
    assert features.shape == (0, 5) and len(labels) == 0 and len(weights) == 0


def test_without_own_intents_in_two_scripts_there_is_no_shift_to_copy_by() -> None:
    rows = [
        ("greet", "LATIN", True, GREET),
        ("out_of_scope", "LATIN", True, ORDERS),
        ("out_of_scope", "TELUGU", True, ORDERS + TELUGU),
        ("faq__refund", "LATIN", True, REFUND),
    ]
    _, labels, _ = copies(rows)
    assert len(labels) == 0
