"""Queries on customers: one person behind their channel identities, and what agents see.

A verified customer has ``external_id`` (the embedding site's key and the shop's own id);
its sessions on every device point at it through their channel identities. An
unverified customer (an anonymous session, a name the page typed in) never gets one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import (
    AgentNote,
    ChannelIdentity,
    Conversation,
    Customer,
    Feedback,
    Ticket,
    TicketStatus,
)


@dataclass(frozen=True, slots=True)
class CustomerCsat:
    conversation_id: int
    score: int | None
    comment: str | None


class CustomerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, customer_id: int) -> Customer | None:
        return await self.session.get(Customer, customer_id)

    async def identity(self, *, channel: str, external_id: str) -> ChannelIdentity | None:
        stmt = select(ChannelIdentity).where(
            ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def verified(self, external_id: str) -> Customer | None:
        stmt = select(Customer).where(Customer.external_id == external_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def add_verified(self, *, external_id: str) -> Customer:
        """The verified customer with this id, made now unless another worker just did."""
        try:
            async with self.session.begin_nested():
                customer = Customer(external_id=external_id, verified=True)
                self.session.add(customer)
                await self.session.flush()
        except IntegrityError:
            raced = await self.verified(external_id)
            assert raced is not None
            return raced
        return customer

    async def add_identity(
        self, *, customer: Customer, channel: str, external_id: str
    ) -> ChannelIdentity:
        identity = ChannelIdentity(
            customer_id=customer.id, channel=channel, external_id=external_id
        )
        self.session.add(identity)
        await self.session.flush()
        return identity

    async def move_identity(self, identity: ChannelIdentity, *, to: Customer) -> None:
        """Point one channel identity, its conversations and their tickets at ``to``."""
        await self._move(
            identity,
            to,
            select(Conversation.id).where(
                Conversation.channel == identity.channel,
                Conversation.customer_id == identity.customer_id,
                Conversation.conversation_key == identity.external_id,
            ),
        )

    async def move_account(self, identity: ChannelIdentity, *, to: Customer) -> None:
        """Point a platform account (Telegram, Slack), its conversations on that channel
        and their tickets at ``to``. Unlike a web session, such an account holds several
        conversations (a Slack DM and threads, Telegram groups) under other keys."""
        await self._move(
            identity,
            to,
            select(Conversation.id).where(
                Conversation.channel == identity.channel,
                Conversation.customer_id == identity.customer_id,
            ),
        )

    async def _move(
        self, identity: ChannelIdentity, to: Customer, conversations: Select[int]
    ) -> None:
        """``conversations`` (ids, of the identity's customer) and their tickets, then the
        identity itself, now belong to ``to``."""
        await self.session.execute(
            update(Ticket)
            .where(
                Ticket.customer_id == identity.customer_id,
                Ticket.conversation_id.in_(conversations),
            )
            .values(customer_id=to.id)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(
            update(Conversation)
            .where(Conversation.id.in_(conversations))
            .values(customer_id=to.id)
            .execution_options(synchronize_session=False)
        )
        identity.customer_id = to.id
        await self.session.flush()

    async def identities(self, customer_id: int) -> Sequence[ChannelIdentity]:
        stmt = (
            select(ChannelIdentity)
            .where(ChannelIdentity.customer_id == customer_id)
            .order_by(ChannelIdentity.id)
        )
        return (await self.session.scalars(stmt)).all()

    async def csat(self, customer_id: int, *, limit: int = 20) -> list[CustomerCsat]:
        stmt = (
            select(Feedback.conversation_id, Feedback.score, Feedback.comment)
            .join(Conversation, Conversation.id == Feedback.conversation_id)
            .where(Conversation.customer_id == customer_id, Feedback.kind == "csat")
            .order_by(Feedback.id.desc())
            .limit(limit)
        )
        return [CustomerCsat(*row) for row in (await self.session.execute(stmt)).all()]

    async def notes(self, customer_id: int, *, limit: int = 20) -> Sequence[AgentNote]:
        stmt = (
            select(AgentNote)
            .join(Conversation, Conversation.id == AgentNote.conversation_id)
            .where(Conversation.customer_id == customer_id)
            .order_by(AgentNote.id.desc())
            .limit(limit)
        )
        return (await self.session.scalars(stmt)).all()

    async def open_ticket(self, customer_id: int) -> Ticket | None:
        """The customer's latest ticket still being worked on, if any."""
        stmt = (
            select(Ticket)
            .where(
                Ticket.customer_id == customer_id,
                Ticket.status.in_((TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)),
            )
            .order_by(Ticket.id.desc())
            .limit(1)
        )
        return (await self.session.scalars(stmt)).one_or_none()
