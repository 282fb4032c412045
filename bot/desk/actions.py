"""What agents do to chats, from any desk (the web console, Slack threads).

Agents claim, reply, hand back, resolve, transfer, note and set their presence here;
every change is a :func:`bot.handoff.move` (checked, conditional, recorded) and is
published on :class:`~bot.events.DeskEvents` for every open desk to show. What
the customer is told is stored in the same transaction as the change that caused
it (the outbox), then sent.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.desk.core import DeskCore
from bot.desk.policy import Conflict, NotAllowed, clean_text
from bot.desk.reception import Reception
from bot.desk.routing import Waiting, next_for
from bot.events import DeskEvent, EventKind
from bot.handoff import HandoffError, HandoffReason, State, StateChanged, move
from bot.messages import OutboundMessage
from bot.storage.agent_desk import NoteRepository, QueueRepository
from bot.storage.models import Agent, AgentPresence, Conversation, aware
from bot.storage.notices import CHAT_REPLY, NoticeStore
from bot.storage.repositories import AgentRepository
from bot.surveys.asking import ask_survey
from bot.surveys.plan import Occasion

MAX_REPLY = 4000
MAX_NOTE = 4000


class AgentActions:
    """Everything an agent can do to a chat; a claim or a close moves the queue on."""

    def __init__(self, core: DeskCore, reception: Reception) -> None:
        self.core = core
        self.reception = reception  # tells waiting customers their new place

    async def claim(self, agent_id: int, conversation_id: int) -> None:
        """Take a queued chat (or one the bot is handling). Exactly one agent wins."""
        now = self.core.clock.now()
        async with self.core.db.transaction() as session:
            agent = await self.core.agent(session, agent_id)
            # Locked before the agent, the order every path keeps (see DeskCore.lock_agent).
            conversation = await self.core.locked(session, conversation_id)
            if conversation.state == State.AGENT and conversation.agent_id == agent.id:
                return
            await self._check_claimable(session, conversation)
            await self.core.lock_agent(session, agent.id)  # then count: see lock_agent
            active = (await QueueRepository(session).active_counts()).get(agent.id, 0)
            if active >= agent.max_chats:
                raise Conflict(f"You already have {active} chats, your maximum.")
            try:
                await move(
                    session,
                    conversation,
                    to=State.AGENT,
                    reason=HandoffReason.AGENT_CLAIMED,
                    actor=agent.name,
                    agent_id=agent.id,
                    at=now,
                )
            except StateChanged as exc:
                await self._check_claimable(session, exc.conversation)
                raise Conflict("This chat changed meanwhile; reload it.") from exc
            rows = await self.core.tell(session, conversation, "agent_joined", agent=agent.name)
        await self.core.send(rows)
        self.core.changed(conversation_id)
        await self.reception.update_positions()

    async def take_next(self, agent_id: int) -> int | None:
        """Claim the chat routing gives this agent next; None when the queue is empty."""
        for _ in range(3):  # another agent may take our pick first: pick again
            now = self.core.clock.now()
            async with self.core.db.transaction() as session:
                queue = QueueRepository(session)
                waiting = [
                    Waiting(
                        row.conversation.id, row.conversation.language, row.conversation.queued_at
                    )
                    for row in await queue.waiting()
                    if row.conversation.queued_at is not None
                ]
                agents = await self.core.loads(session, now)
            me = next((a for a in agents if a.id == agent_id), None)
            pick = next_for(me, waiting, agents) if me is not None else None
            if pick is None:
                return None
            try:
                await self.claim(agent_id, pick.conversation_id)
            except Conflict as exc:
                if "maximum" in str(exc):
                    raise
                continue
            return pick.conversation_id
        return None

    async def reply(self, agent_id: int, conversation_id: int, text: str) -> None:
        """Send the agent's message to the customer on whatever channel they use."""
        text = clean_text(text, limit=MAX_REPLY, what="reply")
        async with self.core.db.transaction() as session:
            agent = await self.core.agent(session, agent_id)
            conversation = await self.core.locked(session, conversation_id)
            if conversation.state != State.AGENT or conversation.agent_id != agent.id:
                raise NotAllowed(await self._not_yours(session, conversation))
            rows = await self.core.line.store_outbound(
                session,
                conversation,
                [OutboundMessage(text, sender="agent")],
                language=conversation.language,
                agent_id=agent.id,
            )
            if CHAT_REPLY in self.core.email_notices and conversation.channel != "email":
                # A customer who left (web chat) or whose chat refuses it gets it by email.
                await NoticeStore(session).record(
                    ticket_id=None, message_ids=rows, event=CHAT_REPLY, now=self.core.clock.now()
                )
        await self.core.send(rows, agent=agent.name)

    async def hand_back(self, agent_id: int, conversation_id: int) -> None:
        """Return the chat to the bot, which greets the customer again in their language."""
        now = self.core.clock.now()
        async with self.core.db.transaction() as session:
            agent = await self.core.agent(session, agent_id)
            conversation = await self.core.locked(session, conversation_id)
            was_queued = conversation.state == State.QUEUED
            await self._check_may_act(session, agent, conversation)
            await self._move(
                session, conversation, State.BOT, HandoffReason.AGENT_HANDED_BACK, agent, now
            )
            rows = await self.core.tell(session, conversation, "handback_greeting")
        await self.core.send(rows)
        self.core.changed(conversation_id)
        if was_queued:
            await self.reception.update_positions()

    async def resolve(self, agent_id: int, conversation_id: int) -> None:
        """Close the chat and ask the customer for a CSAT rating (1-5 buttons)."""
        now = self.core.clock.now()
        async with self.core.db.transaction() as session:
            agent = await self.core.agent(session, agent_id)
            conversation = await self.core.locked(session, conversation_id)
            was_queued = conversation.state == State.QUEUED
            await self._check_may_act(session, agent, conversation)
            await self._move(
                session, conversation, State.RESOLVED, HandoffReason.RESOLVED, agent, now
            )
            # The survey for an agent's resolution (CSAT by default), unless throttled.
            question = await ask_survey(
                session,
                self.core.surveys,
                self.core.phrases,
                conversation=conversation,
                occasion=Occasion.AGENT_RESOLVED,
                key=f"{conversation.id}:{now.isoformat()}",
                now=now,
                agent_id=agent.id,
            )
            if question is None:  # no survey now: still say it is resolved
                rows = await self.core.tell(session, conversation, "conversation_resolved")
            else:
                rows = await self.core.line.store_outbound(
                    session, conversation, [question], language=self.core.language(conversation)
                )
        await self.core.send(rows)
        self.core.changed(conversation_id)
        if was_queued:
            await self.reception.update_positions()

    async def transfer(self, agent_id: int, conversation_id: int, to_agent_id: int) -> None:
        """Give an owned chat to a colleague who is online and has room for it."""
        now = self.core.clock.now()
        async with self.core.db.transaction() as session:
            agent = await self.core.agent(session, agent_id)
            target = await self.core.agent(session, to_agent_id)
            conversation = await self.core.locked(session, conversation_id)
            if conversation.state != State.AGENT:
                raise Conflict("Only a chat an agent owns can be transferred; claim it first.")
            await self._check_may_act(session, agent, conversation)
            if target.id == conversation.agent_id:
                raise Conflict(f"{target.name} already has this chat.")
            await self.core.lock_agent(session, target.id)  # then count: see lock_agent
            load = next((a for a in await self.core.loads(session, now) if a.id == target.id), None)
            if load is None or not load.can_take:
                raise Conflict(f"{target.name} is not online or has no room for another chat.")
            await move(
                session,
                conversation,
                to=State.AGENT,
                reason=HandoffReason.TRANSFERRED,
                actor=agent.name,
                agent_id=target.id,
                detail=f"to {target.name}",
                at=now,
            )
            rows = await self.core.tell(session, conversation, "agent_joined", agent=target.name)
        await self.core.send(rows)
        self.core.changed(conversation_id)

    async def note(self, agent_id: int, conversation_id: int, text: str) -> None:
        """An internal note: visible to agents, never sent to the customer."""
        text = clean_text(text, limit=MAX_NOTE, what="note")
        async with self.core.db.transaction() as session:
            agent = await self.core.agent(session, agent_id)
            await self.core.conversation(session, conversation_id)
            note = await NoteRepository(session).add(
                conversation_id=conversation_id, agent=agent, text=text
            )
            data = {
                "note": {
                    "id": note.id,
                    "author": note.author,
                    "text": note.text,
                    "created_at": aware(note.created_at).isoformat(),
                }
            }
        self.core.events.publish(DeskEvent(EventKind.NOTE, conversation_id, data))

    async def set_presence(self, agent_id: int, presence: AgentPresence) -> None:
        async with self.core.db.transaction() as session:
            await self.core.agent(session, agent_id)
            await AgentRepository(session).set_presence(
                agent_id, presence=presence, at=self.core.clock.now()
            )
        self.core.events.publish(
            DeskEvent(EventKind.PRESENCE, None, {"agent_id": agent_id, "presence": presence.value})
        )

    async def heartbeat(self, agent_id: int) -> None:
        """The agent's console is open: keep them counted as present."""
        async with self.core.db.transaction() as session:
            await AgentRepository(session).set_presence(
                agent_id, presence=None, at=self.core.clock.now()
            )

    async def _move(
        self,
        session: AsyncSession,
        conversation: Conversation,
        to: State,
        reason: HandoffReason,
        agent: Agent,
        now: datetime,
    ) -> None:
        try:
            await move(session, conversation, to=to, reason=reason, actor=agent.name, at=now)
        except StateChanged as exc:
            raise Conflict("This chat changed meanwhile; reload it.") from exc
        except HandoffError as exc:
            raise Conflict(
                f"A {conversation.state.value} chat cannot be moved to {to.value}."
            ) from exc

    async def _check_claimable(self, session: AsyncSession, conversation: Conversation) -> None:
        if conversation.state == State.AGENT:
            raise Conflict(
                f"{await self.core.owner_name(session, conversation)} already has this chat."
            )
        if conversation.state == State.RESOLVED:
            raise Conflict("This chat is resolved; it reopens when the customer writes again.")

    async def _check_may_act(
        self, session: AsyncSession, agent: Agent, conversation: Conversation
    ) -> None:
        """The owner acts on an owned chat (admins too); anyone on a queued one."""
        if conversation.state == State.AGENT:
            if conversation.agent_id != agent.id and agent.role != "admin":
                raise NotAllowed(await self._not_yours(session, conversation))
        elif conversation.state != State.QUEUED:
            raise Conflict(f"This chat is {conversation.state.value}: nothing to do.")

    async def _not_yours(self, session: AsyncSession, conversation: Conversation) -> str:
        if conversation.state == State.AGENT:
            return f"{await self.core.owner_name(session, conversation)} has this chat."
        return "Claim this chat first."
