"""The part of a multilingual embedding that says which language, not what is meant.

Runs in both Python environments (numpy only): the Rasa featurizer uses it, the
bot's tests check it directly.

e5 puts a Telugu question and its English paraphrase near each other, but not on
top of each other: the language shifts the vector too. Subtracting each script's
mean removes one such direction. This module finds the others from the training
data itself: for every intent with examples in two or more scripts, each script's
mean offset from the intent's mean is what the language adds to the meaning, and
the top right singular vectors of all those offsets span it. Projecting them out
leaves vectors that differ by meaning more than by language (docs/nlu.md).
"""

from __future__ import annotations

import numpy as np


def language_directions(
    vectors: np.ndarray, intents: np.ndarray, scripts: np.ndarray, count: int
) -> np.ndarray | None:
    """The ``count`` strongest directions along which one intent's examples differ by script.

    For every intent with examples in two or more scripts, each script's mean offset
    from the intent's mean is what the language adds to the meaning; the top right
    singular vectors of those offsets span it. ``None`` when there is nothing to learn
    (``count`` 0, or every intent in one script: an English-only data set).
    """
    if count <= 0:
        return None
    offsets = []
    for intent in np.unique(intents):
        of_intent = intents == intent
        if not intent or len(np.unique(scripts[of_intent])) < 2:
            continue
        centre = vectors[of_intent].mean(axis=0)
        for script in np.unique(scripts[of_intent]):
            offsets.append(vectors[of_intent & (scripts == script)].mean(axis=0) - centre)
    if not offsets:
        return None
    _, singular, rows = np.linalg.svd(np.stack(offsets), full_matrices=False)
    kept = rows[: min(count, int((singular > 1e-6).sum()))]
    return kept.astype(np.float32) if len(kept) else None


def project_out(vectors: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """``vectors`` without their components along the orthonormal rows of ``directions``."""
    kept: np.ndarray = vectors - (vectors @ directions.T) @ directions
    return kept
