"""agent desk: presence, console sessions, internal notes, queue bookkeeping

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(
            sa.Column(
                "presence",
                sa.Enum(
                    "online",
                    "away",
                    "offline",
                    name="agentpresence",
                    native_enum=False,
                    length=16,
                ),
                server_default="offline",
                nullable=False,
            )
        )
        batch.add_column(sa.Column("presence_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "agent_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(
        op.f("ix_agent_sessions_agent_id"), "agent_sessions", ["agent_id"], unique=False
    )

    op.create_table(
        "agent_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_agent_notes_conversation_id"), "agent_notes", ["conversation_id"], unique=False
    )

    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("handoff_reason", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("position_told", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("csat_requested_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_conversations_queue", ["state", "queued_at"], unique=False)
        batch.create_index("ix_conversations_agent", ["agent_id", "state"], unique=False)

    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("agent_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_messages_agent_id", "agents", ["agent_id"], ["id"], ondelete="SET NULL"
        )

    with op.batch_alter_table("handoff_events") as batch:
        batch.add_column(sa.Column("detail", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("handoff_events") as batch:
        batch.drop_column("detail")
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint("fk_messages_agent_id", type_="foreignkey")
        batch.drop_column("agent_id")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_agent")
        batch.drop_index("ix_conversations_queue")
        batch.drop_column("csat_requested_at")
        batch.drop_column("position_told")
        batch.drop_column("handoff_reason")
        batch.drop_column("queued_at")
    op.drop_index(op.f("ix_agent_notes_conversation_id"), table_name="agent_notes")
    op.drop_table("agent_notes")
    op.drop_index(op.f("ix_agent_sessions_agent_id"), table_name="agent_sessions")
    op.drop_table("agent_sessions")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("presence_at")
        batch.drop_column("presence")
