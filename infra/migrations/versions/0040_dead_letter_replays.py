"""dead letters remember their replays and purges (`larder dlq replay|purge`)

Revision ID: 0040
Revises: 0020
Create Date: 2026-12-06 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0040"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "rejected_messages",
        sa.Column("replays", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("rejected_messages", sa.Column("replayed_at", sa.DateTime(timezone=True)))
    op.add_column("rejected_messages", sa.Column("purged_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("rejected_messages", "purged_at")
    op.drop_column("rejected_messages", "replayed_at")
    op.drop_column("rejected_messages", "replays")
