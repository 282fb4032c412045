"""The language directions: learnt from multilingual intents, projected out of queries."""

from __future__ import annotations

import numpy as np

from bot.nlu_components.language_subspace import language_directions, project_out


def unit(matrix: np.ndarray) -> np.ndarray:
    normed: np.ndarray = matrix / np.linalg.norm(matrix, axis=-1, keepdims=True)
    return normed


def synthetic(seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Three intents; each example is its intent's meaning plus its language's shift."""
    rng = np.random.default_rng(seed)
    meanings = unit(rng.normal(size=(3, 64)))
    shifts = {"LATIN": np.zeros(64), "GUJARATI": 1.5 * unit(rng.normal(size=64))}
    rows, intents, scripts = [], [], []
    for intent in range(3):
        for script, shift in shifts.items():
            for _ in range(4):
                rows.append(meanings[intent] + shift + 0.02 * rng.normal(size=64))
                intents.append(f"intent{intent}")
                scripts.append(script)
    return np.array(rows), np.array(intents), np.array(scripts), shifts["GUJARATI"]


def test_the_learnt_direction_is_the_language_shift() -> None:
    vectors, intents, scripts, shift = synthetic()
    directions = language_directions(vectors, intents, scripts, count=4)
    assert directions is not None
    # The strongest direction is the shift (up to sign and noise); the noise adds
    # weaker ones, up to the count asked for.
    assert 1 <= len(directions) <= 4
    assert abs(float(directions[0] @ unit(shift))) > 0.99
    assert np.allclose(directions @ directions.T, np.eye(len(directions)), atol=1e-5)


def test_projecting_it_out_puts_a_question_next_to_its_meaning_in_another_language() -> None:
    vectors, intents, scripts, _ = synthetic()
    gujarati = scripts == "GUJARATI"
    questions = gujarati & (intents == "intent0")
    # What the question could match: intent0 in English only, the others in Gujarati.
    pool = ((intents == "intent0") & ~gujarati) | ((intents != "intent0") & gujarati)

    def nearest(space: np.ndarray) -> np.ndarray:
        similarity = unit(space[questions]) @ unit(space[pool]).T
        found: np.ndarray = intents[pool][similarity.argmax(axis=1)]
        return found

    directions = language_directions(vectors, intents, scripts, count=4)
    assert directions is not None
    # Before: the shared language wins, every question lands on another intent.
    assert not np.any(nearest(vectors) == "intent0")
    # After: the meaning wins.
    assert np.all(nearest(project_out(vectors, directions)) == "intent0")
    # intent0 in English (row 0) and in Gujarati (row 4): far apart, then together.
    assert float(unit(vectors)[0] @ unit(vectors)[4]) < 0.7
    projected = unit(project_out(vectors, directions))
    assert float(projected[0] @ projected[4]) > 0.9


def test_nothing_to_learn_from_one_language_or_a_zero_count() -> None:
    vectors, intents, scripts, _ = synthetic()
    english = scripts == "LATIN"
    assert language_directions(vectors[english], intents[english], scripts[english], 4) is None
    assert language_directions(vectors, intents, scripts, count=0) is None
