"""Typed ORM models for the helpdesk's core tables."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """A stored time as an aware UTC datetime (SQLite hands them back naive)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JSON}  # noqa: RUF012


class ConversationState(enum.StrEnum):
    BOT = "bot"
    QUEUED = "queued"
    AGENT = "agent"
    RESOLVED = "resolved"


class Direction(enum.StrEnum):
    IN = "in"
    OUT = "out"


class Delivery(enum.StrEnum):
    """Inbound: received -> processed | waiting_nlu -> processed, or failed (its turn
    crashed: ``last_error`` says why). Outbound (the outbox): pending -> sent | failed."""

    RECEIVED = "received"
    PROCESSED = "processed"
    WAITING_NLU = "waiting_nlu"
    """Met an NLU outage: told "we saved your message", answered once the NLU is back."""
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class TicketStatus(enum.StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


class AgentPresence(enum.StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


def _enum(cls: type[enum.StrEnum]) -> Enum:
    # Stored as plain strings (no native PG enum types): adding a state is a code change only.
    return Enum(cls, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The customer said /stop or "don't ask me again": no surveys, no follow-ups.
    surveys_opted_out_at: Mapped[datetime | None] = mapped_column()
    # A verified customer: the embedding site's key and the shop's own id for them
    # ("voltcart-shop:42"), signed by the shop; links their sessions on every device.
    # Unverified customers (anonymous sessions, unsigned names) never have one.
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    identities: Mapped[list[ChannelIdentity]] = relationship(back_populates="customer")


class ChannelIdentity(Base):
    """A customer's account on one platform (Telegram user, Slack user, web session)."""

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_identity_channel_ext"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(String(200))
    # Set when the platform says we may not write to this person any more (a Telegram
    # user who blocked the bot): replies stop, history stays. Cleared when they write again.
    unreachable_at: Mapped[datetime | None] = mapped_column()
    unreachable_reason: Mapped[str | None] = mapped_column(String(200))

    customer: Mapped[Customer] = relationship(back_populates="identities")


class LinkCode(Base):
    """A one-time code that joins a Telegram or Slack account to a verified customer.

    Issued to the customer's verified web chat (or the shop's server); only its SHA-256
    is kept. ``used_at`` is set once, by a conditional update, whichever worker wins.
    """

    __tablename__ = "link_codes"
    __table_args__ = (
        UniqueConstraint("code_hash", name="uq_link_codes_code_hash"),
        Index("ix_link_codes_customer", "customer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    used_by: Mapped[str | None] = mapped_column(String(200))


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    languages: Mapped[str] = mapped_column(String(200), default="en")
    max_chats: Mapped[int] = mapped_column(Integer, default=3)
    role: Mapped[str] = mapped_column(String(16), default="agent")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What the agent chose in the console; routing also needs a recent heartbeat
    # (``presence_at``), so a closed laptop stops counting as online by itself.
    presence: Mapped[AgentPresence] = mapped_column(
        _enum(AgentPresence), default=AgentPresence.OFFLINE, server_default="offline"
    )
    presence_at: Mapped[datetime | None] = mapped_column()
    # The agent's Slack user id, for the Slack agent desk (threads in an agents' channel).
    slack_user_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    # An IANA zone (Europe/Berlin) for the console's times; None: the team's zone.
    timezone: Mapped[str | None] = mapped_column(String(64))

    @property
    def language_list(self) -> list[str]:
        return [code for code in self.languages.split(",") if code]


class AgentSession(Base):
    """A console login. The cookie holds a signed random token; only its hash is stored."""

    __tablename__ = "agent_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class AgentNote(Base):
    """An internal note on a conversation: for agents only, never sent to the customer.

    Kept out of ``messages`` on purpose: everything there is part of what the customer
    sees (the web chat history, the ticket transcript).
    """

    __tablename__ = "agent_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    author: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("channel", "conversation_key", name="uq_conv_channel_key"),
        Index("ix_conversations_queue", "state", "queued_at"),
        Index("ix_conversations_agent", "agent_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    conversation_key: Mapped[str] = mapped_column(String(200))
    state: Mapped[ConversationState] = mapped_column(
        _enum(ConversationState), default=ConversationState.BOT
    )
    language: Mapped[str | None] = mapped_column(String(8))
    low_confidence_streak: Mapped[int] = mapped_column(Integer, default=0)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Handoff bookkeeping: when the chat entered the queue (fairness, timeout), why, the
    # position the customer was last told, and a CSAT question waiting for its answer.
    queued_at: Mapped[datetime | None] = mapped_column()
    handoff_reason: Mapped[str | None] = mapped_column(String(64))
    position_told: Mapped[int | None] = mapped_column(Integer)
    csat_requested_at: Mapped[datetime | None] = mapped_column()


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        # Dedupe of platform redeliveries, inbound only: what a platform returns for our own
        # replies is bookkeeping, and a collision there must never fail a delivered send.
        Index(
            "uq_msg_inbound_platform_id",
            "channel",
            "platform_message_id",
            unique=True,
            sqlite_where=text("direction = 'in'"),
            postgresql_where=text("direction = 'in'"),
        ),
        Index("ix_messages_conversation", "conversation_id", "id"),
        Index("ix_messages_delivery", "direction", "delivery"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    direction: Mapped[Direction] = mapped_column(_enum(Direction))
    sender: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    payload: Mapped[str | None] = mapped_column(String(500))
    buttons: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)
    platform_message_id: Mapped[str | None] = mapped_column(String(200))
    delivery: Mapped[Delivery] = mapped_column(_enum(Delivery))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    language: Mapped[str | None] = mapped_column(String(8))
    intent: Mapped[str | None] = mapped_column(String(120))
    confidence: Mapped[float | None] = mapped_column(Float)
    nlu: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
    # A mail's Subject (email only): agents see what the customer wrote it under.
    subject: Mapped[str | None] = mapped_column(String(300))
    # The agent who wrote an outbound message (``sender == "agent"``).
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))


class Attachment(Base):
    """A file or other non-text content a customer sent (photo, document, voice, location...).

    Only the platform's reference is kept (``platform_file_id``), not the bytes: an agent or
    a ticket can fetch it from the platform when needed.
    """

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    # Indexed: the upload retention job asks which stored files a message names.
    platform_file_id: Mapped[str | None] = mapped_column(String(300), index=True)
    file_name: Mapped[str | None] = mapped_column(String(300))
    mime_type: Mapped[str | None] = mapped_column(String(120))
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AttachmentFile(Base):
    """The bytes of a file a customer uploaded in the web chat, under a random id.

    Kept in the database, so every worker serves it, and never under a path made from the
    customer's file name. ``mime_type`` is what the bytes were sniffed as, never what the
    browser declared; ``conversation_key`` is the session that uploaded it, the only one
    that may then send it in a message (an ``attachments`` row refers to it by id).
    """

    __tablename__ = "attachment_files"
    __table_args__ = (
        Index("ix_attachment_files_sender", "channel", "conversation_key", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    conversation_key: Mapped[str] = mapped_column(String(200))
    file_name: Mapped[str] = mapped_column(String(200))
    mime_type: Mapped[str] = mapped_column(String(120))
    size_bytes: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HandoffEvent(Base):
    """Every conversation state change: who, when and why."""

    __tablename__ = "handoff_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    from_state: Mapped[ConversationState] = mapped_column(_enum(ConversationState))
    to_state: Mapped[ConversationState] = mapped_column(_enum(ConversationState))
    reason: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What else an auditor needs: the new owner of a transfer, the ticket of a timeout.
    detail: Mapped[str | None] = mapped_column(String(300))


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(32), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL")
    )
    subject: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[TicketStatus] = mapped_column(_enum(TicketStatus), default=TicketStatus.NEW)
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # How to reach the customer when the channel does not say (an anonymous web chat).
    contact: Mapped[str | None] = mapped_column(String(200))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    # SLA due times (business hours, bot/tickets/sla.py) and the warning points before them;
    # stored so the sweep is one indexed query and a priority change restamps them.
    first_response_warn_at: Mapped[datetime | None] = mapped_column()
    first_response_due: Mapped[datetime | None] = mapped_column()
    resolution_warn_at: Mapped[datetime | None] = mapped_column()
    resolution_due: Mapped[datetime | None] = mapped_column()
    first_responded_at: Mapped[datetime | None] = mapped_column()
    # The resolution clock stops while the ticket waits on the customer (pending):
    # since when, and how much open time it has been stopped in all (bot/tickets/rules.py).
    sla_paused_at: Mapped[datetime | None] = mapped_column()
    sla_paused_s: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    resolved_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()


class TicketEvent(Base):
    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Feedback(Base):
    """CSAT ratings, "was this helpful" votes and free-text feedback."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))
    score: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeskThread(Base):
    """Where a handed-off conversation lives on the Slack agent desk: one thread each."""

    __tablename__ = "desk_threads"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), unique=True
    )
    slack_channel: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketSlaAlert(Base):
    """An SLA warning or breach that was announced: the unique key makes it fire once,
    even with several workers sweeping at the same time."""

    __tablename__ = "ticket_sla_alerts"
    __table_args__ = (UniqueConstraint("ticket_id", "kind", name="uq_sla_alert_ticket_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    # first_response_warning | first_response_breach | resolution_warning | resolution_breach
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A REST API token; only its SHA-256 is stored (the token is shown once, at creation)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class Dialogue(Base):
    """A multi-turn dialogue open in a conversation (ticket creation): while it is open,
    the customer's next message goes to it instead of the intent model."""

    __tablename__ = "dialogues"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class FaqVote(Base):
    """A customer's "was this helpful?" answer to one FAQ reply.

    Keyed by the customer message the FAQ answered (``question_message_id``, unique): one
    vote per answer, so pressing an old button again never counts twice. The question
    text stays reachable for the unanswered-questions report ("not helpful" votes).
    """

    __tablename__ = "faq_votes"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    question_message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    faq_id: Mapped[str] = mapped_column(String(120), index=True)
    helpful: Mapped[bool] = mapped_column()
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SurveyRequest(Base):
    """A survey (CSAT, CES, NPS) or a follow-up ("did it stay solved?") put to a customer.

    ``occasion_key`` names what it is about (an agent's resolution, a ticket, a bot answer,
    an NPS round): unique, so one occasion is never asked about twice, whichever worker
    or job gets there first. ``agent_id`` and ``intent`` are kept for the numbers.
    """

    __tablename__ = "survey_requests"
    __table_args__ = (
        UniqueConstraint("occasion_key", name="uq_survey_request_occasion"),
        Index("ix_survey_requests_customer", "customer_id", "asked_at"),
        Index("ix_survey_requests_asked_at", "asked_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))  # csat | ces | nps | followup
    # bot_resolved | agent_resolved | ticket_closed | periodic | ticket_followup
    occasion: Mapped[str] = mapped_column(String(32))
    occasion_key: Mapped[str] = mapped_column(String(120))
    channel: Mapped[str] = mapped_column(String(32))
    language: Mapped[str | None] = mapped_column(String(8))
    intent: Mapped[str | None] = mapped_column(String(120))
    asked_at: Mapped[datetime] = mapped_column(default=utcnow)


class SurveyResponse(Base):
    """The answer to one :class:`SurveyRequest`: unique per request, so an answer pressed
    twice, or arriving late from an old message, counts once."""

    __tablename__ = "survey_responses"
    __table_args__ = (UniqueConstraint("request_id", name="uq_survey_response_request"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("survey_requests.id", ondelete="CASCADE"))
    score: Mapped[int | None] = mapped_column(Integer)
    answer: Mapped[str | None] = mapped_column(String(16))  # a follow-up's yes | no
    comment: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmailNotice(Base):
    """A ticket notification (or an agent's reply in a live chat: no ticket) stored for a
    chat channel (web chat, Telegram, Slack), and what became of it: delivered there, or
    sent by email because it could not be, in the email thread whose replies land on the
    ticket."""

    __tablename__ = "email_notices"
    __table_args__ = (
        UniqueConstraint("message_id", name="uq_email_notice_message"),
        Index("ix_email_notices_open", "decided_at", "id"),
        Index("ix_email_notices_thread", "email_conversation_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    # answered | needs_input | resolved (a ticket's); chat_reply (a live chat's)
    event: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()
    # delivered | emailed | no_address | not_wanted | expired
    outcome: Mapped[str | None] = mapped_column(String(32))
    email_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL")
    )
    email_conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL")
    )
