"""customers: the shop's own id for a verified customer, email, phone, verified flag

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 02:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # external_id: "<site key>:<the shop's id>", set only for a verified customer, so
    # one signed identity is one customer across sessions, devices and channels.
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("external_id", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("email", sa.String(length=320), nullable=True))
        batch.add_column(sa.Column("phone", sa.String(length=40), nullable=True))
        batch.add_column(
            sa.Column("verified", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_unique_constraint("uq_customers_external_id", ["external_id"])


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_constraint("uq_customers_external_id", type_="unique")
        batch.drop_column("verified")
        batch.drop_column("phone")
        batch.drop_column("email")
        batch.drop_column("external_id")
