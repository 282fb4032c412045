"""What one customer turn is made of: what was understood, and what came of it.

Whether the bot acts on what it understood is :func:`bot.nlu.decision.acted_intent`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.engine.frustration import Signs
from bot.messages import OutboundMessage
from bot.nlu.client import ParseResult
from bot.nlu.language import LanguageGuess
from bot.storage.models import Conversation, Message


@dataclass(slots=True)
class Turn:
    """What one processed customer message led to."""

    replies: list[OutboundMessage]
    conversation_id: int | None = None
    state_changed: bool = False


@dataclass(frozen=True, slots=True)
class Understanding:
    """What was read from one customer message before answering it."""

    guess: LanguageGuess
    reply_language: str
    result: ParseResult | None
    nlu_error: str | None
    negative: Signs | None
    content_only: bool

    def record(
        self, message: Message, conversation: Conversation, *, decision: str | None = None
    ) -> None:
        """Keep it on the message (the console shows it) and the conversation's language.

        ``decision`` is why the bot acted on the intent or not (``Decision.reason``):
        analytics and the unanswered report read it back (``bot.nlu.decision.was_acted_on``).
        """
        result = self.result
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
