"""dirty users

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 05:46:03.951572
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dirty_users",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column(
            "marked_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("inputs_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_dirty_users")),
    )
    op.create_index(op.f("ix_dirty_users_marked_at"), "dirty_users", ["marked_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_dirty_users_marked_at"), table_name="dirty_users")
    op.drop_table("dirty_users")
