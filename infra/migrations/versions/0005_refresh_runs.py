"""refresh runs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 06:19:22.684693
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "refresh_run_chunks",
        sa.Column("run_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("chunk", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("users", sa.Integer(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "chunk", name=op.f("pk_refresh_run_chunks")),
    )
    op.create_table(
        "refresh_runs",
        sa.Column("run_id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("model_version", sa.Text(), nullable=False),
        sa.Column("total_users", sa.Integer(), nullable=False),
        sa.Column("total_chunks", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_refresh_runs")),
    )
    op.create_index(
        "ix_rejected_messages_message_id", "rejected_messages", ["message_id"], unique=False
    )

    op.create_index(
        "ix_activity_events_intent",
        "activity_events",
        ["user_id", "occurred_at"],
        unique=False,
        postgresql_include=["venue_id"],
        postgresql_where=sa.text("kind <> 'impression' AND venue_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_activity_events_intent", table_name="activity_events")

    op.drop_index("ix_rejected_messages_message_id", table_name="rejected_messages")
    op.drop_table("refresh_runs")
    op.drop_table("refresh_run_chunks")
