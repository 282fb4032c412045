"""Queries of the Slack agent desk: the thread each handed-off chat has, agents by Slack id."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Agent, Conversation, Customer, DeskThread, HandoffEvent, Message


class DeskThreadRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def for_conversation(self, conversation_id: int) -> DeskThread | None:
        stmt = select(DeskThread).where(DeskThread.conversation_id == conversation_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def at(self, *, slack_channel: str, thread_ts: str) -> DeskThread | None:
        """The desk thread whose root message is ``thread_ts`` in ``slack_channel``."""
        stmt = select(DeskThread).where(
            DeskThread.slack_channel == slack_channel, DeskThread.thread_ts == thread_ts
        )
        return (await self.session.scalars(stmt)).first()

    async def add(self, *, conversation_id: int, slack_channel: str, thread_ts: str) -> DeskThread:
        thread = DeskThread(
            conversation_id=conversation_id, slack_channel=slack_channel, thread_ts=thread_ts
        )
        self.session.add(thread)
        await self.session.flush()
        return thread

    async def agent_for(self, slack_user_id: str) -> Agent | None:
        """The agent mapped to this Slack user (``helpdesk agent slack``), if any."""
        stmt = select(Agent).where(Agent.slack_user_id == slack_user_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def customer_name(self, conversation: Conversation) -> str:
        """The name the customer goes by, or a stand-in when the platform gave none."""
        customer = await self.session.get(Customer, conversation.customer_id)
        return (customer.display_name if customer else None) or f"Customer #{conversation.id}"

    async def latest_event(self, conversation_id: int) -> HandoffEvent | None:
        stmt = (
            select(HandoffEvent)
            .where(HandoffEvent.conversation_id == conversation_id)
            .order_by(HandoffEvent.id.desc())
            .limit(1)
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def turns_before(
        self, conversation_id: int, *, until: datetime | None, limit: int
    ) -> Sequence[Message]:
        """The conversation's last ``limit`` messages (up to ``until``), oldest first."""
        stmt = select(Message).where(Message.conversation_id == conversation_id)
        if until is not None:
            stmt = stmt.where(Message.created_at <= until)
        stmt = stmt.order_by(Message.id.desc()).limit(limit)
        return list(reversed((await self.session.scalars(stmt)).all()))
