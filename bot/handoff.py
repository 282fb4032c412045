"""The handoff state machine: ``bot`` -> ``queued`` -> ``agent`` -> ``bot`` | ``resolved``.

Every transition goes through :func:`move`, which

- refuses what the machine does not allow (:data:`ALLOWED`);
- applies the change as a *conditional* UPDATE on the state (and owner) it was read
  in, so two workers racing on one conversation cannot both win: the database
  decides, and the loser gets :class:`StateChanged` (this is what makes "two agents
  claim at once, exactly one owns it" hold across processes);
- records a :class:`~bot.storage.models.HandoffEvent` with who, when, why and detail.

The agent desk (:mod:`bot.desk.service`) and the engine build on these transitions.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.messages import OutboundMessage
from bot.storage.models import Conversation, ConversationState, HandoffEvent, Message, utcnow
from bot.storage.repositories import ConversationRepository

State = ConversationState


class HandoffReason(enum.StrEnum):
    CUSTOMER_ASKED = "customer_asked"
    LOW_CONFIDENCE = "low_confidence"
    FRUSTRATION = "frustration"
    AGENT_CLAIMED = "agent_claimed"
    AGENT_HANDED_BACK = "agent_handed_back"
    TRANSFERRED = "transferred"
    RESOLVED = "resolved"
    TIMED_OUT = "timed_out"
    OUT_OF_HOURS = "out_of_hours"
    NO_AGENT_ONLINE = "no_agent_online"
    CUSTOMER_RETURNED = "customer_returned"
    REPLIED_TO_AGENT = "replied_to_agent"
    """The customer answered by email an agent's live chat reply mailed to them."""


ALLOWED: dict[State, set[State]] = {
    # An agent may also take over a chat the bot is handling, without a queue.
    State.BOT: {State.QUEUED, State.AGENT},
    # Back to the bot: timed out / nobody online (a ticket carries it on), or an agent
    # decides the bot can answer after all.
    State.QUEUED: {State.AGENT, State.BOT, State.RESOLVED},
    # agent -> agent is a transfer to a colleague.
    State.AGENT: {State.AGENT, State.BOT, State.RESOLVED},
    # The customer writes again after a resolved chat: the bot takes it from there.
    State.RESOLVED: {State.BOT, State.QUEUED},
}

# While a human is involved the bot stays silent and relays to the desk.
HUMAN_STATES = frozenset({State.QUEUED, State.AGENT})


class HandoffError(Exception):
    """A transition the state machine does not allow."""


class StateChanged(HandoffError):
    """The conversation changed since it was read (another agent claimed it first, ...).

    ``conversation`` has been refreshed: it shows the state that won.
    """

    def __init__(self, conversation: Conversation) -> None:
        super().__init__(
            f"conversation {conversation.id} is now {conversation.state.value}"
            + (f" (agent {conversation.agent_id})" if conversation.agent_id else "")
        )
        self.conversation = conversation


async def move(
    session: AsyncSession,
    conversation: Conversation,
    *,
    to: State,
    reason: HandoffReason,
    actor: str,
    agent_id: int | None = None,
    detail: str | None = None,
    at: datetime | None = None,
) -> HandoffEvent:
    """Apply one transition, refusing ones the state machine does not allow.

    ``agent_id`` is the new owner when moving to ``agent``; ``at`` is the moment (the
    desk passes its clock's time, so timeouts are testable).
    """
    if to not in ALLOWED[conversation.state]:
        raise HandoffError(f"cannot move a conversation from {conversation.state} to {to}")
    if to == State.AGENT and agent_id is None:
        raise HandoffError("moving to 'agent' needs the agent who takes it")
    when = at or utcnow()
    values: dict[str, object] = {"state": to, "updated_at": when}
    if to == State.AGENT:
        values["agent_id"] = agent_id
    elif to == State.QUEUED:
        values.update(
            agent_id=None, queued_at=when, handoff_reason=reason.value, position_told=None
        )
    elif to == State.BOT:
        values.update(agent_id=None, queued_at=None, low_confidence_streak=0)
    # RESOLVED keeps agent_id: the console shows who resolved it; capacity counts only `agent`.
    previous = conversation.state
    repository = ConversationRepository(session)
    won = await repository.change_state(
        conversation,
        expect_state=previous,
        expect_agent_id=conversation.agent_id,
        values=values,
    )
    if not won:
        raise StateChanged(conversation)
    return await repository.record_transition(
        conversation, from_state=previous, reason=reason.value, actor=actor, detail=detail, at=when
    )


async def queue_for_human(
    session: AsyncSession,
    conversation: Conversation,
    *,
    reason: HandoffReason,
    at: datetime | None = None,
    detail: str | None = None,
) -> HandoffEvent:
    return await move(
        session, conversation, to=State.QUEUED, reason=reason, actor="bot", detail=detail, at=at
    )


class HandoffDesk(Protocol):
    """What the engine needs from the agent desk (implemented by :class:`bot.desk.service.Desk`).

    ``bot.app`` plugs it in with ``Engine.connect(desk=...)``. Without a desk the engine
    still queues conversations and stays silent while they wait, but does not check
    business hours, agents or timeouts.
    """

    @property
    def detects_frustration(self) -> bool:
        """Whether repeated anger hands the chat over (``handoff.frustration``)."""
        ...

    async def admit(
        self,
        session: AsyncSession,
        conversation: Conversation,
        *,
        replies: Sequence[OutboundMessage],
        language: str,
    ) -> list[OutboundMessage]:
        """The conversation entered the queue during this customer turn (same transaction).

        Returns the replies to send instead of ``replies``: the queue position when
        someone can take it, or an honest "nobody available, here is your ticket" (and
        the conversation is back with the bot), or none when it went straight to the
        agent whose mailed reply the customer answered.
        """
        ...

    async def customer_message(self, conversation: Conversation, message: Message) -> None:
        """A customer message arrived while a human has the conversation (relay it)."""
        ...

    async def turn_finished(
        self, conversation_id: int, *, state_changed: bool, changed_tickets: Sequence[int] = ()
    ) -> None:
        """After the turn committed, outside the conversation's lock (publish, positions);
        ``changed_tickets``: tickets the turn changed, for the open consoles."""
        ...
