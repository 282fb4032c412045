"""Answer, clarify or hand off: one rule over the NLU's signals.

The bot answers on its own only when every signal says it understood:

- the top intent is a known intent (not ``out_of_scope``, not a deleted FAQ), and
  one of the bot's own intents that needs evidence in the text shows it
  (:mod:`bot.nlu.evidence`: else it is struck and the runner-up judged instead);
- its confidence is at least ``confidence``;
- it leads the runner-up by at least ``margin`` (two close FAQs: ask, don't guess);
- the message is at least ``similarity`` (cosine) close to a training example of
  that intent, when the NLU reports it (the sentence-embedding classifier does;
  stock DIET does not, and then this check is skipped).

A top intent of ``out_of_scope`` with a confidence of at least ``out_of_scope`` is an
answer of its own: the bot *declines* politely (says what it can help with) and never
hands off for it. A less confident ``out_of_scope`` is as unsure as any other guess.

Otherwise the bot is unsure: it clarifies (offers its best guesses) and, when it has
been unsure ``unsure_limit`` times in a row, hands off to a person. The thresholds
are chosen on validation data by ``helpdesk nlu tune`` (docs/nlu.md).
Pure functions: no I/O, no state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.nlu.client import OUT_OF_SCOPE, ParseResult
from bot.nlu.evidence import require_evidence


class Action(StrEnum):
    ANSWER = "answer"
    CLARIFY = "clarify"
    HAND_OFF = "hand_off"
    DECLINE = "decline"
    """A confident out-of-scope: say politely what the bot can help with."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The operating point; 0 switches a check off (``out_of_scope``: 1 does)."""

    confidence: float = 0.55
    margin: float = 0.0
    similarity: float = 0.0
    out_of_scope: float = 0.5
    """A top ``out_of_scope`` at least this confident is declined, not clarified."""


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    intent: str | None
    """The intent to act on when answering; the model's best guess otherwise."""
    reason: str
    """Why: ``confident``, ``command``, ``out_of_scope`` (declined: a confident out of
    scope), ``no_intent``, ``unknown_faq``, ``low_confidence``, ``ambiguous`` or
    ``unfamiliar``."""
    guesses: tuple[str, ...] = ()
    """FAQ ids worth offering as "did you mean" buttons when clarifying."""

    @property
    def answers(self) -> bool:
        return self.action is Action.ANSWER


def margin(result: ParseResult) -> float:
    """How far the top intent leads the runner-up (1.0 when there is no runner-up)."""
    others = [s.confidence for s in result.ranking if s.name != result.intent]
    return result.confidence - max(others, default=0.0)


def unsure_reason(
    result: ParseResult | None, thresholds: Thresholds, known_faq: Callable[[str], bool]
) -> str | None:
    """Why the bot should not answer on its own, or ``None`` when it may."""
    if result is None or result.intent is None:
        return "no_intent"
    if result.from_command:
        return None
    result = require_evidence(result)
    if result.intent == OUT_OF_SCOPE:
        # Confident: the bot knows it cannot help (declines). Else it is only unsure.
        return "out_of_scope" if result.confidence >= thresholds.out_of_scope else "low_confidence"
    if result.faq_id is not None and not known_faq(result.faq_id):
        return "unknown_faq"
    if result.confidence < thresholds.confidence:
        return "low_confidence"
    if thresholds.margin > 0 and margin(result) < thresholds.margin:
        return "ambiguous"
    if (
        thresholds.similarity > 0
        and result.similarity is not None
        and result.similarity < thresholds.similarity
    ):
        return "unfamiliar"
    return None


def decide(
    result: ParseResult | None,
    *,
    thresholds: Thresholds,
    known_faq: Callable[[str], bool],
    unsure_turns: int = 0,
    unsure_limit: int = 2,
) -> Decision:
    """Answer, clarify or hand off.

    ``unsure_turns`` is how many turns in a row the bot was already unsure in this
    conversation; being unsure once more reaching ``unsure_limit`` hands off.
    """
    if result is not None:
        result = require_evidence(result)
    reason = unsure_reason(result, thresholds, known_faq)
    best = result.intent if result is not None else None
    if reason is None:
        return Decision(
            Action.ANSWER, best, "command" if result and result.from_command else "confident"
        )
    candidates = result.faq_guesses(limit=len(result.ranking)) if result else []
    guesses = tuple([g for g in candidates if known_faq(g)][:2])
    if reason == "out_of_scope":
        # Not a failure to understand: it neither counts towards nor triggers a hand-off.
        return Decision(Action.DECLINE, OUT_OF_SCOPE, reason, guesses)
    action = Action.HAND_OFF if unsure_turns + 1 >= unsure_limit else Action.CLARIFY
    return Decision(action, best, reason, guesses)


ACTED = frozenset({"confident", "command"})
"""Decision reasons for which the bot acted on the intent itself."""
DECLINED = "out_of_scope"
"""The decision reason of a confident out-of-scope, declined politely (not "unsure")."""


def was_acted_on(
    *,
    intent: str | None,
    confidence: float | None,
    nlu: Mapping[str, Any] | None,
    answer_threshold: float,
) -> bool:
    """Whether the bot acted on a stored customer message's intent (analytics, reports).

    The turn's own decision when the message records it (``nlu["decision"]``, every
    message the NLU read since 2026-11-24); for older rows, the part of the rule their
    columns still tell: an intent other than ``out_of_scope``, confident enough.
    """
    recorded = (nlu or {}).get("decision")
    if isinstance(recorded, str):
        return recorded in ACTED
    if intent is None or intent == OUT_OF_SCOPE:
        return False
    return bool((nlu or {}).get("command")) or (confidence or 0.0) >= answer_threshold


def acted_intent(
    result: ParseResult | None, *, thresholds: Thresholds, known_faq: Callable[[str], bool]
) -> str | None:
    """The intent the bot answers with, or ``None``: a drop-in for ``engine.decide``."""
    decision = decide(result, thresholds=thresholds, known_faq=known_faq)
    return decision.intent if decision.answers else None
