"""tickets: the resolution clock pauses while a ticket waits on the customer

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 04:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("sla_paused_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("sla_paused_s", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("sla_paused_s")
        batch.drop_column("sla_paused_at")
