"""Choosing the answer / clarify / hand-off thresholds on validation data.

The search is pure (:func:`choose`): given parse results of labelled validation
messages, it finds the operating point (confidence, margin, similarity) with the
best in-scope accuracy among those whose out-of-scope recall reaches a floor.
Where no point reaches the floor, it takes the best sum of the two.

``helpdesk nlu tune`` (see :mod:`bot.nlu.tuning`) builds the validation data from the
knowledge base itself and writes the result to ``config.yml``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bot.nlu.client import OUT_OF_SCOPE, ParseResult
from bot.nlu.decision import Thresholds, margin
from bot.nlu.evidence import require_evidence
from bot.settings import NluSettings

MARGINS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3)
SIMILARITIES = (0.0, *(round(0.7 + 0.01 * i, 2) for i in range(26)))


@dataclass(frozen=True, slots=True)
class Observation:
    """One validation message: what the NLU said, and what it should have been."""

    result: ParseResult
    expect: str


@dataclass(frozen=True, slots=True)
class Choice:
    thresholds: Thresholds
    in_scope_accuracy: float | None
    oos_recall: float | None
    n: int
    met_floor: bool
    declined_in_scope: float | None = None
    """Share of the in-scope validation lines declined as out of scope at this point."""
    declined_oos: float | None = None
    """Share of the out-of-scope validation lines declined (the rest are clarified)."""

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "thresholds": asdict(self.thresholds)}


def _judged(observation: Observation) -> ParseResult:
    """The parse as the decision rule reads it (bot.nlu.evidence)."""
    return require_evidence(observation.result)


def configured(nlu: NluSettings) -> Thresholds:
    """The operating point in the configuration."""
    return Thresholds(
        nlu.answer_threshold,
        nlu.margin_threshold,
        nlu.similarity_threshold,
        nlu.out_of_scope_threshold,
    )


MAX_DECLINED_IN_SCOPE = 0.01
"""The share of in-scope validation messages the bot may decline as out of scope."""
OUT_OF_SCOPE_FLOOR = 0.5
"""The lowest out-of-scope threshold chosen, whatever the validation data: "confident"
means more likely than every other intent together. Below it the model's
``out_of_scope`` is one guess among many (gibberish and "hmm" score 0.36-0.39 on the
test model), and the bot clarifies as for any unsure guess."""


def choose_out_of_scope(
    observations: Sequence[Observation], *, max_declined: float = MAX_DECLINED_IN_SCOPE
) -> float:
    """The lowest confidence at which a top ``out_of_scope`` is declined (not clarified).

    A wrong decline costs a customer whose question the bot knows an answer it could
    have guessed, so the cut keeps declined in-scope messages at ``max_declined`` of
    the in-scope ones (at least one message's worth); every out-of-scope message
    above it is declined. Clarifying stays the answer below the cut.
    """
    in_scope = [o for o in observations if o.expect != OUT_OF_SCOPE]
    judged = [_judged(o) for o in in_scope]
    wrong = sorted((r.confidence for r in judged if r.intent == OUT_OF_SCOPE), reverse=True)
    allowed = int(max_declined * len(in_scope))
    # Above the (allowed + 1)-th most confident wrong one: at most ``allowed`` declined;
    # never below the floor.
    cut = wrong[allowed] + 1e-4 if len(wrong) > allowed else 0.0
    return round(min(1.0, max(OUT_OF_SCOPE_FLOOR, cut)), 4)


def declined_share(observations: Sequence[Observation], cut: float) -> tuple[float, float]:
    """(in-scope declined, out-of-scope declined) shares at ``cut``."""
    in_scope = [o for o in observations if o.expect != OUT_OF_SCOPE]
    oos = [o for o in observations if o.expect == OUT_OF_SCOPE]

    def share(group: list[Observation]) -> float:
        judged = [_judged(o) for o in group]
        hits = sum(r.intent == OUT_OF_SCOPE and r.confidence >= cut for r in judged)
        return hits / len(group) if group else 0.0

    return share(in_scope), share(oos)


def choose(
    observations: Sequence[Observation],
    *,
    known_faq: Callable[[str], bool] = lambda _: True,
    min_oos_recall: float = 0.9,
) -> Choice:
    """The best thresholds for these validation observations (see module docstring)."""
    in_scope = sum(o.expect != OUT_OF_SCOPE for o in observations)
    oos = len(observations) - in_scope
    with_similarity = any(o.result.similarity is not None for o in observations)
    best: tuple[tuple[float, ...], Choice] | None = None
    for min_margin in MARGINS:
        for min_similarity in SIMILARITIES if with_similarity else (0.0,):
            sweep = _sweep(observations, min_margin, min_similarity, known_faq, in_scope, oos)
            for choice in sweep:
                score = _score(choice, min_oos_recall)
                if best is None or score > best[0]:
                    best = (score, choice)
    if best is None:
        return Choice(Thresholds(0.0), None, None, 0, False)
    chosen = best[1]
    met = chosen.oos_recall is None or chosen.oos_recall >= min_oos_recall
    # Declining is separate from answering (only top out_of_scope parses, which are
    # never answered), so it is chosen on its own and does not move the point above.
    point = replace(chosen.thresholds, out_of_scope=choose_out_of_scope(observations))
    declined = declined_share(observations, point.out_of_scope)
    return Choice(point, chosen.in_scope_accuracy, chosen.oos_recall, chosen.n, met, *declined)


def _score(choice: Choice, floor: float) -> tuple[float, ...]:
    accuracy = choice.in_scope_accuracy if choice.in_scope_accuracy is not None else 0.0
    recall = choice.oos_recall if choice.oos_recall is not None else 1.0
    met = recall >= floor
    t = choice.thresholds
    # Meeting the floor first; then accuracy (or the sum, when no point meets it);
    # then recall; then the gentlest thresholds, which generalise best.
    primary = accuracy if met else accuracy + recall
    return (float(met), primary, recall, -t.margin, -t.similarity, -t.confidence)


def _sweep(
    observations: Sequence[Observation],
    min_margin: float,
    min_similarity: float,
    known_faq: Callable[[str], bool],
    in_scope: int,
    oos: int,
) -> list[Choice]:
    """Every confidence cut for one (margin, similarity) pair, in one sorted pass."""
    # (confidence, answers correctly if answered, is out of scope) for the messages
    # that pass every check but confidence; the rest are never answered.
    passing: list[tuple[float, bool, bool]] = []
    for o in observations:
        r = _judged(o)
        if r.intent is None or r.intent == OUT_OF_SCOPE:
            continue
        if r.faq_id is not None and not known_faq(r.faq_id):
            continue
        if min_margin > 0 and margin(r) < min_margin:
            continue
        if min_similarity > 0 and r.similarity is not None and r.similarity < min_similarity:
            continue
        passing.append((r.confidence, r.intent == o.expect, o.expect == OUT_OF_SCOPE))
    passing.sort()
    # Cut below everything: all passing messages are answered.
    correct = sum(ok for _, ok, _ in passing)
    wrongly_answered_oos = sum(is_oos for _, _, is_oos in passing)
    cuts = [0.0, *sorted({c for c, _, _ in passing})]
    choices: list[Choice] = []
    index = 0
    for cut in cuts:
        while index < len(passing) and passing[index][0] < cut:
            _, ok, is_oos = passing[index]
            correct -= ok
            wrongly_answered_oos -= is_oos
            index += 1
        accuracy = correct / in_scope if in_scope else None
        recall = (oos - wrongly_answered_oos) / oos if oos else None
        choices.append(
            Choice(
                Thresholds(round(cut, 4), min_margin, min_similarity),
                accuracy,
                recall,
                len(observations),
                False,
            )
        )
    return choices


_KEYS = {
    "answer_threshold": "confidence",
    "margin_threshold": "margin",
    "similarity_threshold": "similarity",
    "out_of_scope_threshold": "out_of_scope",
}


def write_config(path: Path, thresholds: Thresholds, comment: str) -> None:
    """Set the four thresholds in ``path``'s ``nlu:`` section, keeping every other line."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if re.match(r"^nlu:\s*(#.*)?$", line)), None)
    if start is None:
        lines += ["\nnlu:\n"]
        start = len(lines) - 1
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"^\S", lines[i])), len(lines))
    values = asdict(thresholds)
    insert_at = start + 1
    for key, field in _KEYS.items():
        pattern = re.compile(rf"^(\s+){key}:\s*[^#\n]*?(\s*#.*)?$")
        new_value = f"{values[field]:g}"
        for i in range(start + 1, end):
            match = pattern.match(lines[i].rstrip("\n"))
            if match:
                lines[i] = f"{match.group(1)}{key}: {new_value}{match.group(2) or ''}\n"
                insert_at = i + 1
                break
        else:
            lines.insert(insert_at, f"  {key}: {new_value}\n")
            insert_at += 1
            end += 1
    marker = "  # thresholds: "
    lines = [line for line in lines if not line.startswith(marker)]
    stamp_at = next(
        i for i, line in enumerate(lines) if line.lstrip().startswith("answer_threshold:")
    )
    lines.insert(stamp_at, f"{marker}{comment}\n")
    path.write_text("".join(lines), encoding="utf-8")
