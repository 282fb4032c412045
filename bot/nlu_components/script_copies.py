"""FAQ questions copied, in feature space, into the scripts their entry is not asked in.

Runs in both Python environments (numpy only): the Rasa classifier uses it, the bot's
tests check it directly.

Admins often write an entry's questions in English only, while the bot's own intents
(greetings, "talk to a person", ticket status, ...) come with examples in every
language the bot speaks. The softmax then sees Telugu text only in the bot's own
intents and learns that Telugu-ness itself points to them: a Telugu FAQ question goes
to ``create_ticket`` or ``feedback`` although its entry is close behind. The script
centering and language directions of the featurizer remove most of the language from
the vectors, not all of it.

The bot's own intents show what is left: for every pair of scripts, the mean
difference between one intent's examples in the two scripts, averaged over the
intents that have both, is how the features move when only the language changes. Each
FAQ question is copied into every script its entry has no question in, moved by that
shift, and counts as much as the question itself. Where every entry is asked in a
script nothing is added (a knowledge base written in all its languages trains as
before). Measured on validation lines in bench/RESULTS.md.
"""

from __future__ import annotations

import numpy as np


def script_shifts(
    features: np.ndarray, labels: np.ndarray, scripts: np.ndarray, intents: set[str]
) -> dict[tuple[str, str], np.ndarray]:
    """``(from, to)`` -> the mean move of ``intents``' examples from one script to the other."""
    means: dict[tuple[str, str], np.ndarray] = {}
    for intent in intents:
        for script in np.unique(scripts[labels == intent]):
            means[(intent, str(script))] = features[(labels == intent) & (scripts == script)].mean(
                axis=0
            )
    known = sorted({script for _, script in means})
    shifts: dict[tuple[str, str], np.ndarray] = {}
    for source in known:
        for target in known:
            moves = [
                means[(i, target)] - means[(i, source)]
                for i in intents
                if source != target and (i, source) in means and (i, target) in means
            ]
            if moves:
                shifts[(source, target)] = np.mean(moves, axis=0)
    return shifts


def script_copies(
    features: np.ndarray,
    labels: np.ndarray,
    scripts: np.ndarray,
    questions: np.ndarray,
    weights: np.ndarray,
    *,
    faq_prefix: str,
    out_of_scope_intent: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The FAQ questions' copies in their entries' missing scripts: ``(features, labels,
    weights)``, each copy unit length and weighted as its question; empty when there is
    nothing to copy.

    ``questions`` marks the examples that are questions (an FAQ answer is not copied and
    does not count as asking the entry in its script). The shifts come from the bot's own
    intents, never from out-of-scope examples, which are unrelated texts in each language.
    """
    faq = np.char.startswith(labels.astype(str), faq_prefix)
    own = {str(label) for label in np.unique(labels[~faq])} - {out_of_scope_intent}
    shifts = script_shifts(features, labels, scripts, own)
    targets = sorted({target for _, target in shifts})
    rows: list[np.ndarray] = []
    copied: list[str] = []
    copy_weights: list[float] = []
    for entry in np.unique(labels[faq]):
        asked = faq & questions & (labels == entry)
        present = {str(s) for s in scripts[asked]}
        for index in np.flatnonzero(asked):
            for target in targets:
                shift = shifts.get((str(scripts[index]), target))
                if target in present or shift is None:
                    continue
                rows.append(features[index] + shift)
                copied.append(str(entry))
                copy_weights.append(float(weights[index]))
    if not rows:
        return (
            np.zeros((0, features.shape[1]), dtype=features.dtype),
            np.array([], dtype=labels.dtype),
            np.zeros(0),
        )
    matrix = np.stack(rows)
    unit = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    return unit.astype(features.dtype), np.array(copied), np.array(copy_weights)
