"""admin numbers, knowledge-base feedback loop: "was this helpful?" votes

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 19:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "faq_votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("question_message_id", sa.Integer(), nullable=False),
        sa.Column("faq_id", sa.String(length=120), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["question_message_id"], ["messages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("question_message_id"),
    )
    op.create_index("ix_faq_votes_conversation_id", "faq_votes", ["conversation_id"])
    op.create_index("ix_faq_votes_faq_id", "faq_votes", ["faq_id"])


def downgrade() -> None:
    op.drop_index("ix_faq_votes_faq_id", table_name="faq_votes")
    op.drop_index("ix_faq_votes_conversation_id", table_name="faq_votes")
    op.drop_table("faq_votes")
