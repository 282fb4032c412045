"""The desk's side toward the engine and the clock: who gets into the queue, what the
waiting customer is told, and what happens to a chat nobody claims.

- :meth:`Reception.admit` runs inside the customer's turn when a chat enters the queue:
  a mail answering an agent's reply goes straight to that agent when they can take it;
  outside business hours or with nobody online it opens a ticket and gives the chat back
  to the bot, with an honest message; otherwise it tells the customer their position.
- :meth:`Reception.sweep` turns chats queued past ``queue_timeout`` into tickets.
- :meth:`Reception.update_positions` tells waiting customers when they moved up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.desk.core import DeskCore, message_json
from bot.desk.routing import position_update
from bot.events import DeskEvent, EventKind
from bot.handoff import HandoffReason, State, move
from bot.messages import OutboundMessage
from bot.storage.agent_desk import QueueRepository
from bot.storage.models import Conversation, Message, aware
from bot.storage.notices import NoticeStore
from bot.storage.repositories import MessageRepository
from bot.tickets.rules import open_ticket_from_conversation

SWEEP_EVERY_S = 15.0


class Reception:
    """The engine's :class:`~bot.handoff.HandoffDesk`, plus the queue's timeouts and positions."""

    def __init__(self, core: DeskCore) -> None:
        self.core = core

    @property
    def detects_frustration(self) -> bool:
        return self.core.policy.frustration

    async def admit(
        self,
        session: AsyncSession,
        conversation: Conversation,
        *,
        replies: Sequence[OutboundMessage],
        language: str,
    ) -> list[OutboundMessage]:
        now = self.core.clock.now()
        conversation.queued_at = now  # the desk's clock decides waiting times
        if await self._to_agent_answered(session, conversation, now):
            return []  # the agent answers by mail, as from any chat they own
        closed = not self.core.policy.hours.is_open(now)
        nobody = False
        if not closed and self.core.policy.require_online_agent:
            nobody = not any(a.online for a in await self.core.loads(session, now))
        if closed or nobody:
            reason = HandoffReason.OUT_OF_HOURS if closed else HandoffReason.NO_AGENT_ONLINE
            reference = await self._ticket_and_back_to_bot(session, conversation, reason, now)
            return [OutboundMessage(self._unavailable(reference, language, closed=closed, now=now))]
        position = await QueueRepository(session).queued_before(conversation) + 1
        conversation.position_told = position
        return [*replies, OutboundMessage(self._position_phrase(position, language, first=True))]

    async def customer_message(self, conversation: Conversation, message: Message) -> None:
        self.core.events.publish(
            DeskEvent(EventKind.MESSAGE, conversation.id, {"message": message_json(message)})
        )

    async def turn_finished(
        self, conversation_id: int, *, state_changed: bool, changed_tickets: Sequence[int] = ()
    ) -> None:
        if state_changed:
            self.core.changed(conversation_id)
        for ticket_id in changed_tickets:  # as the ticket service announces its changes
            self.core.events.publish(DeskEvent(EventKind.TICKET, None, {"ticket_id": ticket_id}))

    async def sweep(self) -> int:
        """Turn chats queued longer than the timeout into tickets; returns how many."""
        now = self.core.clock.now()
        cutoff = now - self.core.policy.queue_timeout
        async with self.core.db.transaction() as session:
            expired = [c.id for c in await QueueRepository(session).queued_since(cutoff)]
        done = 0
        for conversation_id in expired:
            async with self.core.db.transaction() as session:
                conversation = await self.core.locked(session, conversation_id)
                if conversation.state != State.QUEUED or conversation.queued_at is None:
                    continue
                if aware(conversation.queued_at) >= cutoff:
                    continue
                reference = await self._ticket_and_back_to_bot(
                    session, conversation, HandoffReason.TIMED_OUT, now
                )
                rows = await self.core.tell(
                    session, conversation, "handoff_timed_out", reference=reference
                )
            await self.core.send(rows)
            self.core.changed(conversation_id)
            done += 1
        if done:
            await self.update_positions()
        return done

    async def update_positions(self) -> int:
        """Tell waiting customers their new place in the queue when it moved meaningfully."""
        outgoing: list[int] = []
        async with self.core.db.transaction() as session:
            rows = await QueueRepository(session).waiting()
            for position, row in enumerate(rows, start=1):
                conversation = row.conversation
                if not position_update(
                    position, conversation.position_told, step=self.core.policy.position_step
                ):
                    continue
                conversation.position_told = position
                language = self.core.language(conversation)
                outgoing += await self.core.line.store_outbound(
                    session,
                    conversation,
                    [OutboundMessage(self._position_phrase(position, language, first=False))],
                    language=language,
                )
        await self.core.send(outgoing)
        return len(outgoing)

    async def _to_agent_answered(
        self, session: AsyncSession, conversation: Conversation, now: datetime
    ) -> bool:
        """A customer's answer to an agent's mailed chat reply goes to that agent, as a
        transfer would: only when they are online and below their maximum. Otherwise
        (away, offline, full, their account gone) it stays in the queue for anyone."""
        if conversation.handoff_reason != HandoffReason.REPLIED_TO_AGENT:
            return False
        answered = await NoticeStore(session).chat_reply_answered(conversation.id)
        if answered is None or answered.agent_id is None:
            return False
        # The turn holds the conversation; the agent next, then count (see lock_agent).
        await self.core.lock_agent(session, answered.agent_id)
        loads = await self.core.loads(session, now)
        agent = next((a for a in loads if a.id == answered.agent_id), None)
        if agent is None or not agent.can_take:
            return False
        await move(
            session,
            conversation,
            to=State.AGENT,
            reason=HandoffReason.REPLIED_TO_AGENT,
            actor="bot",
            agent_id=agent.id,
            detail=f"to {agent.name}, whose reply it answers",
            at=now,
        )
        return True

    async def _ticket_and_back_to_bot(
        self,
        session: AsyncSession,
        conversation: Conversation,
        reason: HandoffReason,
        now: datetime,
    ) -> str:
        latest = await MessageRepository(session).recent_inbound(conversation.id, limit=1)
        ticket = await open_ticket_from_conversation(
            session,
            conversation,
            trigger=latest[0] if latest else _placeholder(conversation),
            language=conversation.language or self.core.catalogue.default_language,
        )
        reference = ticket.reference or ""
        await move(
            session,
            conversation,
            to=State.BOT,
            reason=reason,
            actor="bot",
            detail=f"ticket {reference}",
            at=now,
        )
        return reference

    def _unavailable(self, reference: str, language: str, *, closed: bool, now: datetime) -> str:
        if not closed:
            return self.core.phrase("handoff_no_agent", language, reference=reference)
        opens = self.core.policy.hours.next_opening(now)
        if opens is None:
            return self.core.phrase("handoff_closed", language, reference=reference)
        return self.core.phrase(
            "handoff_out_of_hours",
            language,
            reference=reference,
            hours=self.core.policy.hours.describe(),
            opens=opens.strftime("%Y-%m-%d %H:%M %Z"),
        )

    def _position_phrase(self, position: int, language: str, *, first: bool) -> str:
        if position == 1:
            return self.core.phrase("handoff_next_in_line", language)
        key = "handoff_position" if first else "handoff_position_update"
        return self.core.phrase(key, language, position=position)


def _placeholder(conversation: Conversation) -> Message:
    # A queued chat always has a customer message; this only guards a corrupt history.
    return Message(conversation_id=conversation.id, text="Support request", sender="customer")
