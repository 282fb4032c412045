"""email notices for customers of other channels; a mail's subject on its message

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 04:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("subject", sa.String(length=300), nullable=True))
    # One row per ticket notification sent on a chat channel: whether it reached the
    # customer there, or went out by email instead (and in which email thread).
    op.create_table(
        "email_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("email_message_id", sa.Integer(), nullable=True),
        sa.Column("email_conversation_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["email_message_id"], ["messages.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["email_conversation_id"], ["conversations.id"], ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id", name="uq_email_notice_message"),
    )
    op.create_index("ix_email_notices_open", "email_notices", ["decided_at", "id"])
    op.create_index("ix_email_notices_thread", "email_notices", ["email_conversation_id"])


def downgrade() -> None:
    op.drop_index("ix_email_notices_thread", table_name="email_notices")
    op.drop_index("ix_email_notices_open", table_name="email_notices")
    op.drop_table("email_notices")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("subject")
