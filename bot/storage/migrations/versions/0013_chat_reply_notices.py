"""email notices for live chats: an agent's reply in a chat (no ticket) may go by email
too, so a notice's ticket becomes optional

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 04:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("email_notices") as batch:
        batch.alter_column("ticket_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM email_notices WHERE ticket_id IS NULL")
    with op.batch_alter_table("email_notices") as batch:
        batch.alter_column("ticket_id", existing_type=sa.Integer(), nullable=False)
