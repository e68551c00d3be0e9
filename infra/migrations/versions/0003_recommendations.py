"""precomputed recommendation lists

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 05:42:04.222440
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fallback_recommendations",
        sa.Column("city_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("surface", sa.Text(), nullable=False),
        sa.Column("context", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ids", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("scores", postgresql.ARRAY(sa.REAL()), nullable=False),
        sa.Column("model_version", sa.Text(), nullable=False),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint(
            "city_id", "surface", "context", name=op.f("pk_fallback_recommendations")
        ),
    )
    op.create_table(
        "recommendations",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("surface", sa.Text(), nullable=False),
        sa.Column("context", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ids", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("scores", postgresql.ARRAY(sa.REAL()), nullable=False),
        sa.Column("model_version", sa.Text(), nullable=False),
        sa.Column("inputs_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("user_id", "surface", "context", name=op.f("pk_recommendations")),
    )


def downgrade() -> None:
    op.drop_table("recommendations")
    op.drop_table("fallback_recommendations")
