"""slack agent desk: agents' Slack ids, one desk thread per conversation; inbound-only dedupe

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 19:12:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Dedupe covers inbound messages only: the ids platforms return for our replies are
    # bookkeeping, and a collision there must never fail a send that already happened.
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint("uq_msg_platform_id", type_="unique")
    op.create_index(
        "uq_msg_inbound_platform_id",
        "messages",
        ["channel", "platform_message_id"],
        unique=True,
        sqlite_where=sa.text("direction = 'in'"),
        postgresql_where=sa.text("direction = 'in'"),
    )
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("slack_user_id", sa.String(length=32), nullable=True))
        batch.create_unique_constraint("uq_agents_slack_user_id", ["slack_user_id"])
    op.create_table(
        "desk_threads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("slack_channel", sa.String(length=32), nullable=False),
        sa.Column("thread_ts", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id"),
    )


def downgrade() -> None:
    op.drop_index("uq_msg_inbound_platform_id", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.create_unique_constraint(
            "uq_msg_platform_id", ["channel", "direction", "platform_message_id"]
        )
    op.drop_table("desk_threads")
    with op.batch_alter_table("agents") as batch:
        batch.drop_constraint("uq_agents_slack_user_id", type_="unique")
        batch.drop_column("slack_user_id")
