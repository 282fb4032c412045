"""attachments found by the stored file they name (the upload retention job's question)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 05:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_attachments_platform_file_id", "attachments", ["platform_file_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_attachments_platform_file_id", table_name="attachments")
