"""Small protocols that services plug into the engine with, and the values they see.

The engine never reaches for a service and no service reaches into the engine: the
composition root (``bot.app``) hands the engine what it needs in one
``Engine.connect(desk=..., follow_ups=...)`` call. The agent desk comes in as a
:class:`bot.handoff.HandoffDesk` (it needs the conversation model, so it lives with
the state machine); a follow-up comes in as :class:`FollowUps` and sees a customer
turn only through a :class:`TurnView`.

Pure values and protocols: no I/O, and nothing of the bot below them but messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from bot.messages import InboundMessage, OutboundMessage

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class TurnView:
    """What a follow-up sees of one customer turn, taken before its intent handler runs.

    ``session`` is the turn's open transaction, with the conversation row locked: what
    a follow-up writes commits together with the replies it returns, or not at all.
    The conversation is loaded in it already (``session.get`` returns that object).
    """

    session: AsyncSession
    conversation_id: int
    message_id: int
    """The stored customer message (``messages.id``)."""
    message: InboundMessage
    language: str
    """The language the bot answers in."""
    intent: str | None
    """The intent the bot would act on; ``None`` when it is unsure what was meant."""
    changed_tickets: list[int] = field(default_factory=list)
    """Tickets the follow-up changed: the engine announces them to the desk once the
    turn committed (a console reading at once must not find the old state)."""


class FollowUps(Protocol):
    """Something that may answer a customer turn as a follow-up to what it asked before
    (a ticket waiting on the customer's reply); asked before the intent handler."""

    async def follow_up(self, turn: TurnView) -> list[OutboundMessage] | None:
        """Replies that take the turn, or ``None`` to leave it to the bot."""
        ...
