"""Repositories own the queries; callers (services, the engine) own the transactions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, func, select, update
from sqlalchemy import text as sql
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import (
    Agent,
    AgentPresence,
    Attachment,
    ChannelIdentity,
    Conversation,
    ConversationState,
    Customer,
    Delivery,
    Direction,
    Feedback,
    HandoffEvent,
    Message,
    Ticket,
    TicketEvent,
    TicketStatus,
    utcnow,
)

TICKET_PREFIX = "HD-"
# References start at HD-1001 so they look like a helpdesk's, not like row ids.
TICKET_OFFSET = 1000
# A Telegram album holds at most 10 items: its earlier items are among the last 20.
ALBUM_LIMIT = 20


class ConversationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_or_create(
        self, *, channel: str, conversation_key: str, user_id: str, user_name: str | None
    ) -> Conversation:
        found = await self.find(channel=channel, conversation_key=conversation_key)
        if found is not None:
            return found
        customer = await self._customer_for(channel=channel, user_id=user_id, user_name=user_name)
        conversation = Conversation(
            customer_id=customer.id,
            channel=channel,
            conversation_key=conversation_key,
            state=ConversationState.BOT,
            low_confidence_streak=0,
        )
        try:
            async with self.session.begin_nested():
                self.session.add(conversation)
        except IntegrityError:
            # Another worker created it between our select and insert.
            raced = await self.find(channel=channel, conversation_key=conversation_key)
            assert raced is not None
            return raced
        return conversation

    async def find(self, *, channel: str, conversation_key: str) -> Conversation | None:
        stmt = select(Conversation).where(
            Conversation.channel == channel, Conversation.conversation_key == conversation_key
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def get(self, conversation_id: int) -> Conversation | None:
        return await self.session.get(Conversation, conversation_id)

    async def _customer_for(self, *, channel: str, user_id: str, user_name: str | None) -> Customer:
        stmt = select(ChannelIdentity).where(
            ChannelIdentity.channel == channel, ChannelIdentity.external_id == user_id
        )
        identity = (await self.session.scalars(stmt)).one_or_none()
        if identity is not None:
            customer = await self.session.get(Customer, identity.customer_id)
            assert customer is not None
            return customer
        try:
            async with self.session.begin_nested():
                customer = Customer(display_name=user_name)
                self.session.add(customer)
                await self.session.flush()
                self.session.add(
                    ChannelIdentity(
                        customer_id=customer.id,
                        channel=channel,
                        external_id=user_id,
                        display_name=user_name,
                    )
                )
        except IntegrityError:
            # The same person wrote in two conversations at once; the other insert won.
            return await self._customer_for(channel=channel, user_id=user_id, user_name=user_name)
        return customer

    async def change_state(
        self,
        conversation: Conversation,
        *,
        expect_state: ConversationState,
        expect_agent_id: int | None,
        values: dict[str, object],
    ) -> bool:
        """Compare-and-set: apply ``values`` only if the row still has the expected state
        and owner. False when another transaction changed it first.

        One conditional UPDATE: on PostgreSQL the loser of a race waits for the winner's
        row lock, then re-reads the row and matches nothing; SQLite serializes writers.
        ``conversation`` is refreshed either way.
        """
        await self.session.flush()  # pending ORM changes must not be lost by the refresh
        owner = (
            Conversation.agent_id.is_(None)
            if expect_agent_id is None
            else Conversation.agent_id == expect_agent_id
        )
        stmt = (
            update(Conversation)
            .where(Conversation.id == conversation.id, Conversation.state == expect_state, owner)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        result = cast(CursorResult[Any], await self.session.execute(stmt))
        await self.session.refresh(conversation)
        return result.rowcount == 1

    async def record_transition(
        self,
        conversation: Conversation,
        *,
        from_state: ConversationState,
        reason: str,
        actor: str,
        detail: str | None = None,
        at: datetime | None = None,
    ) -> HandoffEvent:
        event = HandoffEvent(
            conversation_id=conversation.id,
            from_state=from_state,
            to_state=conversation.state,
            reason=reason,
            actor=actor[:100],
            detail=detail[:300] if detail else None,
            created_at=at or utcnow(),
        )
        self.session.add(event)
        await self.session.flush()
        return event

    async def get_for_update(self, conversation_id: int) -> Conversation | None:
        """Read and lock the row until the transaction ends (PostgreSQL; SQLite's
        ``BEGIN IMMEDIATE`` already holds the database's write lock)."""
        stmt = (
            select(Conversation)
            .where(Conversation.id == conversation_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def identity(self, conversation: Conversation) -> ChannelIdentity | None:
        """The customer's account on the conversation's channel."""
        stmt = (
            select(ChannelIdentity)
            .where(
                ChannelIdentity.customer_id == conversation.customer_id,
                ChannelIdentity.channel == conversation.channel,
            )
            .order_by(ChannelIdentity.id)
            .limit(1)
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def is_unreachable(self, *, channel: str, conversation_key: str) -> bool:
        stmt = (
            select(ChannelIdentity.unreachable_at)
            .join(Conversation, Conversation.customer_id == ChannelIdentity.customer_id)
            .where(
                Conversation.channel == channel,
                Conversation.conversation_key == conversation_key,
                ChannelIdentity.channel == channel,
                ChannelIdentity.unreachable_at.is_not(None),
            )
            .limit(1)
        )
        return (await self.session.scalar(stmt)) is not None

    async def set_unreachable(self, conversation: Conversation, *, reason: str | None) -> None:
        """Mark (``reason``) or clear (``None``) the customer as unreachable on this channel."""
        if reason is None:
            # Every customer message clears it: one UPDATE that nearly always matches
            # nothing, instead of loading the identity to look.
            await self.session.execute(
                update(ChannelIdentity)
                .where(
                    ChannelIdentity.customer_id == conversation.customer_id,
                    ChannelIdentity.channel == conversation.channel,
                    ChannelIdentity.unreachable_at.is_not(None),
                )
                .values(unreachable_at=None, unreachable_reason=None)
            )
            return
        identity = await self.identity(conversation)
        if identity is None:
            return
        identity.unreachable_at = utcnow() if reason is not None else None
        identity.unreachable_reason = reason[:200] if reason is not None else None

    async def handoff_events(self, conversation_id: int) -> Sequence[HandoffEvent]:
        stmt = (
            select(HandoffEvent)
            .where(HandoffEvent.conversation_id == conversation_id)
            .order_by(HandoffEvent.id)
        )
        return (await self.session.scalars(stmt)).all()


class MessageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_inbound(
        self,
        *,
        conversation: Conversation,
        text: str,
        payload: str | None,
        platform_message_id: str,
        subject: str | None = None,
    ) -> Message | None:
        """Store a customer message; ``None`` if this platform id was stored before.

        One ``INSERT ... ON CONFLICT DO NOTHING`` on the inbound dedupe index: no read
        first and no savepoint, and a concurrent redelivery loses the same way.
        """
        insert = _dialect_insert(self.session)(Message).values(
            conversation_id=conversation.id,
            channel=conversation.channel,
            direction=Direction.IN,
            sender="customer",
            text=text,
            payload=payload,
            platform_message_id=platform_message_id,
            subject=subject[:300] if subject else None,
            delivery=Delivery.RECEIVED,
            attempts=0,
            created_at=utcnow(),
        )
        stmt = insert.on_conflict_do_nothing(
            index_elements=[Message.channel, Message.platform_message_id],
            index_where=sql("direction = 'in'"),  # as the index says it: SQLite compares
        ).returning(Message)
        return (await self.session.scalars(stmt)).one_or_none()

    async def add_outbound(
        self,
        *,
        conversation: Conversation,
        text: str,
        buttons: list[dict[str, str]] | None,
        sender: str,
        language: str | None,
        agent_id: int | None = None,
    ) -> Message:
        message = Message(
            conversation_id=conversation.id,
            channel=conversation.channel,
            direction=Direction.OUT,
            sender=sender,
            text=text,
            buttons=buttons or None,
            delivery=Delivery.PENDING,
            attempts=0,
            language=language,
            agent_id=agent_id,
        )
        self.session.add(message)
        await self.session.flush()
        return message

    async def get(self, message_id: int) -> Message | None:
        return await self.session.get(Message, message_id)

    async def with_conversation(
        self, message_id: int, *, lock: bool = False
    ) -> tuple[Message, Conversation] | None:
        """The message and its conversation in one query; ``lock``: the conversation's row
        stays locked until the transaction ends (PostgreSQL; SQLite's ``BEGIN IMMEDIATE``
        already holds the database's write lock), read afresh."""
        stmt = (
            select(Message, Conversation)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.id == message_id)
        )
        if lock:
            stmt = stmt.with_for_update(of=Conversation).execution_options(populate_existing=True)
        found = (await self.session.execute(stmt)).one_or_none()
        return None if found is None else (found[0], found[1])

    async def add_attachment(
        self,
        *,
        message: Message,
        kind: str,
        platform_file_id: str | None,
        file_name: str | None,
        mime_type: str | None,
        size_bytes: int | None,
        details: dict[str, Any] | None,
    ) -> Attachment:
        attachment = Attachment(
            message_id=message.id,
            conversation_id=message.conversation_id,
            kind=kind,
            platform_file_id=platform_file_id,
            file_name=file_name,
            mime_type=mime_type,
            size_bytes=size_bytes,
            details=details or None,
        )
        self.session.add(attachment)
        return attachment

    async def attachments(self, conversation_id: int) -> Sequence[Attachment]:
        stmt = (
            select(Attachment)
            .where(Attachment.conversation_id == conversation_id)
            .order_by(Attachment.id)
        )
        return (await self.session.scalars(stmt)).all()

    async def mark_sent(self, message_id: int, *, platform_message_id: str | None) -> None:
        await self.mark_all_sent([(message_id, platform_message_id)])

    async def mark_all_sent(self, sent: Sequence[tuple[int, str | None]]) -> None:
        """Outbox rows the platform took, with the ids it gave them: one UPDATE each, no
        reads (rows not in the session are not loaded first)."""
        if not sent:
            return
        messages = cast(Table, Message.__table__)
        table = messages.c
        stmt = (  # the table's, not the ORM's UPDATE: one statement, many rows (executemany)
            update(messages)
            .where(table.id == bindparam("row_id"))
            .values(
                delivery=Delivery.SENT,
                sent_at=utcnow(),
                attempts=table.attempts + 1,
                platform_message_id=bindparam("platform_id"),
                last_error=None,
            )
        )
        rows = [{"row_id": row_id, "platform_id": platform_id} for row_id, platform_id in sent]
        await self.session.execute(stmt, rows)  # executemany: one round trip per batch

    async def sendable(self, message_id: int) -> tuple[bool, bool]:
        """Whether outbox row ``message_id`` still waits to be sent, and whether its
        customer is marked unreachable on its channel: one query for the outbox's check."""
        unreachable = (
            select(ChannelIdentity.id)
            .join(Conversation, Conversation.customer_id == ChannelIdentity.customer_id)
            .where(
                Conversation.id == Message.conversation_id,
                ChannelIdentity.channel == Message.channel,
                ChannelIdentity.unreachable_at.is_not(None),
            )
            .exists()
        )
        stmt = select(Message.delivery, unreachable).where(Message.id == message_id)
        found = (await self.session.execute(stmt)).one_or_none()
        if found is None:
            return False, False
        return found[0] == Delivery.PENDING, bool(found[1])

    async def mark_attempt_failed(self, message_id: int, *, error: str, give_up: bool) -> None:
        message = await self.session.get(Message, message_id)
        if message is None:
            return
        message.attempts += 1
        message.last_error = error[:500]
        if give_up:
            message.delivery = Delivery.FAILED

    async def mark_failed(self, message_id: int, *, error: str) -> None:
        """A customer message whose turn crashed: kept, with why, and never tried again."""
        message = await self.session.get(Message, message_id)
        if message is None:
            return
        message.delivery = Delivery.FAILED
        message.last_error = error[:500]

    async def waiting_for_nlu(
        self, *, conversation_id: int | None = None, before: int | None = None, limit: int = 100
    ) -> Sequence[Message]:
        """Customer messages that met an NLU outage, oldest first."""
        stmt = select(Message).where(
            Message.direction == Direction.IN, Message.delivery == Delivery.WAITING_NLU
        )
        if conversation_id is not None:
            stmt = stmt.where(Message.conversation_id == conversation_id)
        if before is not None:
            stmt = stmt.where(Message.id < before)
        return (await self.session.scalars(stmt.order_by(Message.id).limit(limit))).all()

    async def pending_outbound(
        self,
        *,
        channel: str | None = None,
        conversation_id: int | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> Sequence[Message]:
        """Replies stored and not sent yet, oldest first; ``before``: stored before that row."""
        stmt = select(Message).where(
            Message.direction == Direction.OUT, Message.delivery == Delivery.PENDING
        )
        if channel is not None:
            stmt = stmt.where(Message.channel == channel)
        if conversation_id is not None:
            stmt = stmt.where(Message.conversation_id == conversation_id)
        if before is not None:
            stmt = stmt.where(Message.id < before)
        return (await self.session.scalars(stmt.order_by(Message.id).limit(limit))).all()

    async def unprocessed_inbound(
        self, *, stored_before: datetime | None = None, limit: int = 100
    ) -> Sequence[Message]:
        """Customer messages stored but not answered, oldest first; ``stored_before``: only
        those stored before then (a live worker is still answering the newer ones)."""
        stmt = select(Message).where(
            Message.direction == Direction.IN, Message.delivery == Delivery.RECEIVED
        )
        if stored_before is not None:
            stmt = stmt.where(Message.created_at < stored_before)
        return (await self.session.scalars(stmt.order_by(Message.id).limit(limit))).all()

    async def unanswered_before(self, message_id: int, *, limit: int = 100) -> Sequence[Message]:
        """The customer's messages of ``message_id``'s conversation stored before it and not
        answered yet (received, or waiting for the NLU), oldest first; one query."""
        same = select(Message.conversation_id).where(Message.id == message_id).scalar_subquery()
        stmt = (
            select(Message)
            .where(
                Message.conversation_id == same,
                Message.direction == Direction.IN,
                Message.delivery.in_((Delivery.RECEIVED, Delivery.WAITING_NLU)),
                Message.id < message_id,
            )
            .order_by(Message.id)
            .limit(limit)
        )
        return (await self.session.scalars(stmt)).all()

    async def transcript(self, conversation_id: int, *, limit: int = 200) -> Sequence[Message]:
        stmt = (
            select(Message)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.id.desc())
            .limit(limit)
        )
        return list(reversed((await self.session.scalars(stmt)).all()))

    async def recent_inbound(
        self, conversation_id: int, *, limit: int, through: int | None = None
    ) -> Sequence[Message]:
        """The customer's latest messages (up to message ``through``), newest first.

        ``through`` is the message being answered: later ones may already be stored,
        waiting for their turn, and are not part of its past.
        """
        stmt = (
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.direction == Direction.IN)
            .order_by(Message.id.desc())
            .limit(limit)
        )
        if through is not None:
            stmt = stmt.where(Message.id <= through)
        return (await self.session.scalars(stmt)).all()

    async def album_seen(self, conversation_id: int, album: str, *, before: int) -> bool:
        """Whether a message of the conversation stored before ``before`` was in ``album``."""
        stmt = (
            select(Attachment.details)
            .where(Attachment.conversation_id == conversation_id, Attachment.message_id < before)
            .order_by(Attachment.id.desc())
            .limit(ALBUM_LIMIT)
        )
        earlier = await self.session.scalars(stmt)
        return any((details or {}).get("album") == album for details in earlier)

    async def last_outbound(self, conversation_id: int) -> Message | None:
        stmt = (
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.direction == Direction.OUT)
            .order_by(Message.id.desc())
            .limit(1)
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def count(self, *, conversation_id: int | None = None) -> int:
        stmt = select(func.count(Message.id))
        if conversation_id is not None:
            stmt = stmt.where(Message.conversation_id == conversation_id)
        return int(await self.session.scalar(stmt) or 0)


class TicketRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(
        self,
        *,
        customer_id: int,
        conversation_id: int | None,
        subject: str,
        description: str,
        language: str | None,
        actor: str,
        priority: str = "normal",
    ) -> Ticket:
        ticket = Ticket(
            customer_id=customer_id,
            conversation_id=conversation_id,
            subject=subject[:300],
            description=description,
            status=TicketStatus.NEW,
            priority=priority,
            language=language,
        )
        self.session.add(ticket)
        await self.session.flush()
        ticket.reference = f"{TICKET_PREFIX}{TICKET_OFFSET + ticket.id}"
        self.session.add(TicketEvent(ticket_id=ticket.id, kind="created", actor=actor, detail=""))
        await self.session.flush()
        return ticket

    async def find_for_customer(self, *, reference: str, customer_id: int) -> Ticket | None:
        """Only the customer's own tickets: another's reference looks like an unknown one."""
        stmt = select(Ticket).where(
            Ticket.reference == reference.upper(), Ticket.customer_id == customer_id
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def latest_for_customer(self, *, customer_id: int) -> Ticket | None:
        stmt = (
            select(Ticket)
            .where(Ticket.customer_id == customer_id)
            .order_by(Ticket.id.desc())
            .limit(1)
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def events(self, ticket_id: int) -> Sequence[TicketEvent]:
        stmt = (
            select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
        )
        return (await self.session.scalars(stmt)).all()


class FeedbackRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self,
        *,
        conversation_id: int,
        kind: str,
        score: int | None = None,
        comment: str | None = None,
        message_id: int | None = None,
    ) -> Feedback:
        feedback = Feedback(
            conversation_id=conversation_id,
            kind=kind,
            score=score,
            comment=comment,
            message_id=message_id,
        )
        self.session.add(feedback)
        await self.session.flush()
        return feedback


class AgentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self, *, name: str, languages: list[str], max_chats: int, role: str = "agent"
    ) -> Agent:
        agent = Agent(name=name, languages=",".join(languages), max_chats=max_chats, role=role)
        self.session.add(agent)
        await self.session.flush()
        return agent

    async def list(self) -> Sequence[Agent]:
        return (await self.session.scalars(select(Agent).order_by(Agent.name))).all()

    async def find(self, name: str) -> Agent | None:
        return (await self.session.scalars(select(Agent).where(Agent.name == name))).one_or_none()

    async def get(self, agent_id: int) -> Agent | None:
        return await self.session.get(Agent, agent_id)

    async def lock(self, agent_id: int) -> Agent | None:
        """Read and lock the agent's row until the transaction ends (PostgreSQL; SQLite's
        ``BEGIN IMMEDIATE`` already holds the database's write lock).

        ``FOR NO KEY UPDATE``: it excludes another such lock and any update of the row,
        but not the key-share locks of rows that merely refer to the agent (a note, a
        reply), which need not wait.
        """
        stmt = (
            select(Agent)
            .where(Agent.id == agent_id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def set_password_hash(self, agent: Agent, password_hash: str) -> None:
        agent.password_hash = password_hash

    async def set_presence(
        self, agent_id: int, *, presence: AgentPresence | None, at: datetime
    ) -> None:
        """Record a console check-in at ``at``, changing the chosen presence if given."""
        values: dict[str, object] = {"presence_at": at}
        if presence is not None:
            values["presence"] = presence
        await self.session.execute(
            update(Agent)
            .where(Agent.id == agent_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def _dialect_insert(session: AsyncSession) -> Any:
    """The ``insert`` of the session's database, which knows ``ON CONFLICT``."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def as_dict(row: Any) -> dict[str, Any]:
    """Column values of a row, for logs and the API."""
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}
