"""Queries of the agent desk: the queue, agents' load, console logins, internal notes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import (
    Agent,
    AgentNote,
    AgentSession,
    Conversation,
    ConversationState,
    Customer,
    Direction,
    HandoffEvent,
    Message,
    Ticket,
)


@dataclass(frozen=True, slots=True)
class ConversationRow:
    """A conversation with what the queue and chat lists show about it."""

    conversation: Conversation
    customer_name: str | None
    last_customer_text: str | None
    last_customer_at: datetime | None


class QueueRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def waiting(self) -> list[ConversationRow]:
        """Queued conversations, oldest first (the order of service)."""
        return await self._rows(
            Conversation.state == ConversationState.QUEUED,
            order=(Conversation.queued_at, Conversation.id),
        )

    async def owned(self, agent_id: int | None = None) -> list[ConversationRow]:
        """Conversations agents own now (one agent's, or everyone's), longest-running first."""
        where = [Conversation.state == ConversationState.AGENT]
        if agent_id is not None:
            where.append(Conversation.agent_id == agent_id)
        return await self._rows(*where, order=(Conversation.updated_at, Conversation.id))

    async def recent(self, *, limit: int = 30) -> list[ConversationRow]:
        """Any conversation, most recently active first (for taking one over from the bot)."""
        return await self._rows(order=(Conversation.updated_at.desc(),), limit=limit)

    async def _rows(
        self, *where: object, order: Sequence[object], limit: int | None = None
    ) -> list[ConversationRow]:
        # The customer's latest message per listed conversation: a correlated lookup on the
        # (conversation_id, id) index, not a scan of every message.
        last_in = (
            select(Message.id)
            .where(Message.conversation_id == Conversation.id, Message.direction == Direction.IN)
            .order_by(Message.id.desc())
            .limit(1)
            .correlate(Conversation)
            .scalar_subquery()
        )
        stmt = (
            select(Conversation, Customer.display_name, Message.text, Message.created_at)
            .join(Customer, Customer.id == Conversation.customer_id)
            .outerjoin(Message, Message.id == last_in)
            .where(*where)  # type: ignore[arg-type]
            .order_by(*order)  # type: ignore[arg-type]
        )
        if limit is not None:
            stmt = stmt.limit(limit)
        result = await self.session.execute(stmt)
        return [ConversationRow(c, name, text, at) for c, name, text, at in result.all()]

    async def active_counts(self) -> dict[int, int]:
        """How many conversations each agent owns now."""
        stmt = (
            select(Conversation.agent_id, func.count(Conversation.id))
            .where(Conversation.state == ConversationState.AGENT)
            .group_by(Conversation.agent_id)
        )
        return {
            agent_id: int(count)
            for agent_id, count in (await self.session.execute(stmt)).all()
            if agent_id is not None
        }

    async def queued_before(self, conversation: Conversation) -> int:
        """How many queued conversations are ahead of this one."""
        if conversation.queued_at is None:
            return 0
        stmt = select(func.count(Conversation.id)).where(
            Conversation.state == ConversationState.QUEUED,
            (Conversation.queued_at < conversation.queued_at)
            | (
                (Conversation.queued_at == conversation.queued_at)
                & (Conversation.id < conversation.id)
            ),
        )
        return int(await self.session.scalar(stmt) or 0)

    async def queued_since(self, cutoff: datetime) -> Sequence[Conversation]:
        """Queued conversations that have waited since before ``cutoff``."""
        stmt = (
            select(Conversation)
            .where(Conversation.state == ConversationState.QUEUED, Conversation.queued_at < cutoff)
            .order_by(Conversation.queued_at)
        )
        return (await self.session.scalars(stmt)).all()

    async def agents(self) -> Sequence[Agent]:
        return (await self.session.scalars(select(Agent).order_by(Agent.name))).all()


class HistoryRepository:
    """What the console shows beside a conversation: the customer's other contacts."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def customer(self, customer_id: int) -> Customer | None:
        return await self.session.get(Customer, customer_id)

    async def agent_names(self, agent_ids: Iterable[int]) -> dict[int, str]:
        """Agents' names by id: who wrote which reply, as the customer's chat shows it."""
        wanted = set(agent_ids)
        if not wanted:
            return {}
        rows = await self.session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(wanted)))
        return {agent_id: name for agent_id, name in rows.all()}

    async def tickets(self, customer_id: int, *, limit: int = 20) -> Sequence[Ticket]:
        stmt = (
            select(Ticket)
            .where(Ticket.customer_id == customer_id)
            .order_by(Ticket.id.desc())
            .limit(limit)
        )
        return (await self.session.scalars(stmt)).all()

    async def conversations(self, customer_id: int, *, limit: int = 20) -> Sequence[Conversation]:
        stmt = (
            select(Conversation)
            .where(Conversation.customer_id == customer_id)
            .order_by(Conversation.updated_at.desc())
            .limit(limit)
        )
        return (await self.session.scalars(stmt)).all()

    async def events(self, conversation_id: int) -> Sequence[HandoffEvent]:
        stmt = (
            select(HandoffEvent)
            .where(HandoffEvent.conversation_id == conversation_id)
            .order_by(HandoffEvent.id)
        )
        return (await self.session.scalars(stmt)).all()


class NoteRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *, conversation_id: int, agent: Agent, text: str) -> AgentNote:
        note = AgentNote(
            conversation_id=conversation_id, agent_id=agent.id, author=agent.name, text=text
        )
        self.session.add(note)
        await self.session.flush()
        return note

    async def for_conversation(self, conversation_id: int) -> Sequence[AgentNote]:
        stmt = (
            select(AgentNote)
            .where(AgentNote.conversation_id == conversation_id)
            .order_by(AgentNote.id)
        )
        return (await self.session.scalars(stmt)).all()


class AgentSessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(
        self, *, agent_id: int, token_hash: str, csrf_token: str, expires_at: datetime
    ) -> AgentSession:
        row = AgentSession(
            agent_id=agent_id, token_hash=token_hash, csrf_token=csrf_token, expires_at=expires_at
        )
        self.session.add(row)
        await self.session.flush()
        return row

    async def find(self, token_hash: str, *, now: datetime) -> tuple[AgentSession, Agent] | None:
        stmt = (
            select(AgentSession, Agent)
            .join(Agent, Agent.id == AgentSession.agent_id)
            .where(AgentSession.token_hash == token_hash, AgentSession.expires_at > now)
        )
        row = (await self.session.execute(stmt)).one_or_none()
        return (row[0], row[1]) if row is not None else None

    async def delete(self, token_hash: str) -> None:
        await self.session.execute(
            delete(AgentSession).where(AgentSession.token_hash == token_hash)
        )

    async def delete_for_agent(self, agent_id: int) -> None:
        """End every login of an agent (a password change)."""
        await self.session.execute(delete(AgentSession).where(AgentSession.agent_id == agent_id))

    async def delete_expired(self, now: datetime) -> None:
        await self.session.execute(delete(AgentSession).where(AgentSession.expires_at <= now))
