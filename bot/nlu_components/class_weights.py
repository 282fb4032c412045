"""How much each training example counts in the intent softmax.

Runs in both Python environments (numpy only): the Rasa classifier uses it, the bot's
tests check it directly.
"""

from __future__ import annotations

import numpy as np

# What the out-of-scope weight may be besides a number: see example_weights.
COVERAGE = "coverage"


def example_weights(
    labels: np.ndarray,
    scripts: np.ndarray,
    questions: np.ndarray,
    *,
    balanced: bool,
    out_of_scope_intent: str,
    out_of_scope_weight: float | str,
    faq_prefix: str,
) -> np.ndarray:
    """One weight per example: 1, or 1/frequency of its intent when ``balanced`` (so a
    big intent does not swallow small ones: sklearn's "balanced"); an out-of-scope
    example's is then scaled by ``out_of_scope_weight``.

    With ``"coverage"``, an out-of-scope example is scaled by the share of FAQ entries
    that have a question (``questions``: not an answer) in its script. The out-of-scope
    examples are the rest of the world in every language they come in; when the FAQs'
    questions are English only, the Telugu out-of-scope examples are nearly the only
    Telugu text beside the bot's own intents, and the softmax learns "Telugu means out
    of scope": a Telugu FAQ question goes there although its entry ranks second
    (bench/RESULTS.md, sparse demo). Where the FAQs speak the script, nothing changes;
    where they do not, the thresholds decline what nothing resembles.
    """
    _, y, counts = np.unique(labels, return_inverse=True, return_counts=True)
    weights = len(labels) / (len(counts) * counts[y]) if balanced else np.ones(len(labels))
    out_of_scope = labels == out_of_scope_intent
    if out_of_scope_weight == COVERAGE:
        scale = _faq_coverage(labels, scripts, questions, faq_prefix)
        factors = np.array([scale.get(str(s), 0.0) for s in scripts])
    else:
        factors = np.full(len(labels), float(out_of_scope_weight))
    scaled: np.ndarray = weights * np.where(out_of_scope, factors, 1.0)
    return scaled


def _faq_coverage(
    labels: np.ndarray, scripts: np.ndarray, questions: np.ndarray, faq_prefix: str
) -> dict[str, float]:
    """Script -> the share of FAQ entries with at least one question in it."""
    faq = np.char.startswith(labels.astype(str), faq_prefix)
    entries = len(np.unique(labels[faq]))
    if not entries:
        return {str(s): 1.0 for s in np.unique(scripts)}
    asked = faq & questions
    return {
        str(s): len(np.unique(labels[asked & (scripts == s)])) / entries for s in np.unique(scripts)
    }
