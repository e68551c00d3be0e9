"""banners, brands and food categories: activity propensities, banner statistics, overrides

Revision ID: 0070
Revises: 0060
Create Date: 2026-12-06 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0070"
down_revision = "0060"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("activity_events", sa.Column("propensity", postgresql.REAL()))
    op.create_table(
        "banner_stats",
        sa.Column("banner_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("city_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("segment", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("impressions", sa.BigInteger(), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("banner_id", "city_id", "segment", "position"),
    )
    op.create_table(
        "recs_overrides",
        sa.Column("override_id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("city_id", sa.BigInteger()),
        sa.Column("user_id", sa.BigInteger()),
        sa.Column("slot", sa.Integer()),
        sa.Column(
            "starts_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("ends_at", sa.DateTime(timezone=True)),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("override_id"),
    )
    op.create_index(
        "ix_recs_overrides_user",
        "recs_overrides",
        ["user_id"],
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )
    op.create_index(
        "ix_recs_overrides_city",
        "recs_overrides",
        ["city_id"],
        postgresql_where=sa.text("action = 'pin'"),
    )
    op.create_index(
        "ix_recs_overrides_paused",
        "recs_overrides",
        ["target_id"],
        postgresql_where=sa.text("action = 'pause'"),
    )


def downgrade() -> None:
    op.drop_table("recs_overrides")
    op.drop_table("banner_stats")
    op.drop_column("activity_events", "propensity")
