"""the support console's actions: a version per problem record (optimistic concurrency), its
assignee and its silence

Revision ID: 0060
Revises: 0040
Create Date: 2026-12-06 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0060"
down_revision = "0040"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "order_problems",
        sa.Column("version", sa.BigInteger(), nullable=False, server_default="1"),
    )
    op.add_column("order_problems", sa.Column("assigned_to", sa.Text()))
    op.add_column("order_problems", sa.Column("silenced_until", sa.DateTime(timezone=True)))
    op.add_column("order_problems", sa.Column("silenced_by", sa.Text()))
    op.create_index(
        "ix_order_problems_silenced_until",
        "order_problems",
        ["silenced_until"],
        postgresql_where=sa.text("silenced_until IS NOT NULL AND ended_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_order_problems_silenced_until", table_name="order_problems")
    op.drop_column("order_problems", "silenced_by")
    op.drop_column("order_problems", "silenced_until")
    op.drop_column("order_problems", "assigned_to")
    op.drop_column("order_problems", "version")
