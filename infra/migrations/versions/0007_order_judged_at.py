"""order checks: judged_at per order, a watermark per worker process

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 17:25:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("order_states", sa.Column("judged_at", sa.DateTime(timezone=True)))
    op.drop_table("checks_watermark")
    op.create_table(
        "checks_watermarks",
        sa.Column("worker", sa.Text(), nullable=False),
        sa.Column("low_water_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("worker", name=op.f("pk_checks_watermarks")),
    )


def downgrade() -> None:
    op.drop_table("checks_watermarks")
    op.create_table(
        "checks_watermark",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("low_water_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checks_watermark")),
    )
    op.drop_column("order_states", "judged_at")
