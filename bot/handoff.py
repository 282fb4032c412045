"""The handoff state machine: ``bot`` -> ``queued`` -> ``agent`` -> ``bot`` | ``resolved``.

The agent desk (claiming, routing, hand-back) builds on these transitions; each
one is stored as a :class:`~bot.storage.models.HandoffEvent` with who and why.
"""

from __future__ import annotations

import enum

from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Conversation, ConversationState, HandoffEvent
from bot.storage.repositories import ConversationRepository


class HandoffReason(enum.StrEnum):
    CUSTOMER_ASKED = "customer_asked"
    LOW_CONFIDENCE = "low_confidence"
    FRUSTRATION = "frustration"
    AGENT_CLAIMED = "agent_claimed"
    AGENT_HANDED_BACK = "agent_handed_back"
    RESOLVED = "resolved"
    TIMED_OUT = "timed_out"


ALLOWED: dict[ConversationState, set[ConversationState]] = {
    ConversationState.BOT: {ConversationState.QUEUED, ConversationState.AGENT},
    ConversationState.QUEUED: {
        ConversationState.AGENT,
        ConversationState.BOT,
        ConversationState.RESOLVED,
    },
    ConversationState.AGENT: {ConversationState.BOT, ConversationState.RESOLVED},
    ConversationState.RESOLVED: {ConversationState.BOT, ConversationState.QUEUED},
}

# While a human is involved the bot stays silent and relays to the desk.
HUMAN_STATES = frozenset({ConversationState.QUEUED, ConversationState.AGENT})


class HandoffError(Exception):
    pass


async def move(
    session: AsyncSession,
    conversation: Conversation,
    *,
    to: ConversationState,
    reason: HandoffReason,
    actor: str,
) -> HandoffEvent:
    """Apply one transition, refusing ones the state machine does not allow."""
    if to not in ALLOWED[conversation.state]:
        raise HandoffError(f"cannot move a conversation from {conversation.state} to {to}")
    return await ConversationRepository(session).transition(
        conversation, to=to, reason=reason.value, actor=actor
    )


async def queue_for_human(
    session: AsyncSession, conversation: Conversation, *, reason: HandoffReason
) -> HandoffEvent:
    return await move(
        session, conversation, to=ConversationState.QUEUED, reason=reason, actor="bot"
    )
