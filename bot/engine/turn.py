"""What one customer turn is made of: the engine's options, what was understood, what came of it.

The understand step (:mod:`bot.engine.understand`) makes the turn's one
:class:`~bot.nlu.decision.Decision`; the later steps read the intent to act on from it
(:attr:`Understanding.acted_intent`) and the stored message records its reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.engine.frustration import Signs
from bot.messages import OutboundMessage
from bot.nlu.client import OUT_OF_SCOPE, ParseResult
from bot.nlu.decision import Action, Decision, Thresholds
from bot.nlu.language import LanguageGuess
from bot.storage.models import Conversation, Message
from bot.surveys.plan import SurveyPlan


@dataclass(frozen=True, slots=True)
class EngineOptions:
    brand: str
    default_language: str
    languages: tuple[str, ...]
    thresholds: Thresholds
    """When the bot answers on its own (bot/nlu/decision.py)."""
    low_confidence_turns: int
    frustration: bool = True
    """Hand over when the customer is repeatedly angry (bot/engine/frustration.py)."""
    # "was this helpful?" buttons under FAQ answers.
    ask_helpful: bool = False
    surveys: SurveyPlan | None = None
    """What is asked when (``surveys:``); None: the bot's own turns ask nothing."""
    max_parse_chars: int = 1000
    """The NLU reads this much of a message (``nlu.max_parse_chars``)."""
    max_concurrent_parses: int = 4
    """Parses in flight at once, for all customers (``nlu.max_concurrent_parses``)."""


@dataclass(slots=True)
class Turn:
    """What one processed customer message led to."""

    replies: list[OutboundMessage]
    conversation_id: int | None = None
    state_changed: bool = False
    changed_tickets: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Understanding:
    """What was read from one customer message before answering it."""

    guess: LanguageGuess
    reply_language: str
    result: ParseResult | None
    nlu_error: str | None
    negative: Signs | None
    content_only: bool
    decision: Decision | None = None
    """Whether the bot acts on ``result`` and why; ``None`` when nothing was read."""

    @property
    def acted_intent(self) -> str | None:
        """The intent the bot answers with, or ``None`` when it is unsure (or read nothing)."""
        decision = self.decision
        return decision.intent if decision is not None and decision.answers else None

    @property
    def handler_intent(self) -> str | None:
        """The intent whose handler answers: the acted intent, or ``out_of_scope`` when
        the bot declines a confident out-of-scope message (``None``: the fallback)."""
        decision = self.decision
        if decision is not None and decision.action is Action.DECLINE:
            return OUT_OF_SCOPE
        return self.acted_intent

    def record(self, message: Message, conversation: Conversation) -> None:
        """Keep it on the message (the console shows it) and the conversation's language.

        The decision's reason is kept as ``nlu["decision"]``: analytics and the unanswered
        report read it back (``bot.nlu.decision.was_acted_on``).
        """
        result = self.result
        decision = self.decision.reason if self.decision is not None else None
        message.language = self.guess.language
        message.intent = result.intent if result else None
        message.confidence = result.confidence if result else None
        message.nlu = {
            **(result.as_json() if result else {}),
            **({"decision": decision} if decision is not None else {}),
            "language_source": self.guess.source,
            **({"error": self.nlu_error} if self.nlu_error else {}),
            **(
                {"negative": list(self.negative.reasons)}
                if self.negative and self.negative.negative
                else {}
            ),
        }
        conversation.language = self.guess.language
