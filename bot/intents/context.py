"""What an intent handler gets to work with for one customer turn."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import Catalogue
from bot.knowledge.loader import KnowledgeBase
from bot.messages import Button, InboundMessage, OutboundMessage
from bot.nlu.client import ParseResult
from bot.storage.models import Conversation, Message
from bot.surveys.plan import SurveyPlan


@dataclass(slots=True)
class TurnContext:
    """One turn: the stored conversation and message, the NLU result, and the reply language.

    ``session`` is the turn's open transaction: whatever a handler writes (a ticket, a
    state change) commits together with the replies it returns, or not at all.
    """

    session: AsyncSession
    conversation: Conversation
    message: Message
    nlu: ParseResult | None
    language: str
    kb: KnowledgeBase
    catalogue: Catalogue
    brand: str
    default_language: str
    low_confidence_turns: int
    # ask "was this helpful?" under FAQ answers (admin.helpful_buttons).
    ask_helpful: bool = False
    # What is asked when (surveys: in config.yml); None: no surveys from the bot's turns.
    surveys: SurveyPlan | None = None
    # Tickets this turn changed (a follow-up's "no" reopened one): the desk tells every
    # open console once the turn has committed, so a reopened ticket shows up live.
    changed_tickets: list[int] = field(default_factory=list)

    def phrase(self, key: str, **values: object) -> str:
        return self.catalogue.get(key, self.language, brand=self.brand, **values)

    def say(
        self, key: str, *, buttons: tuple[Button, ...] = (), **values: object
    ) -> OutboundMessage:
        return OutboundMessage(self.phrase(key, **values), buttons=buttons)


Handler = Callable[[InboundMessage, TurnContext], Awaitable[list[OutboundMessage]]]
