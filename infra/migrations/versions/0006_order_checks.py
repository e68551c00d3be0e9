"""order checks

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 08:30:28.053320
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checks_watermark",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("newest_event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checks_watermark")),
    )
    op.create_table(
        "order_problems",
        sa.Column("problem_id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=True),
        sa.Column("venue_id", sa.BigInteger(), nullable=True),
        sa.Column("city_id", sa.BigInteger(), nullable=True),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("muted", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("resolved_by", sa.Text(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Text(), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("problem_id", name=op.f("pk_order_problems")),
    )
    op.create_index(
        "ix_order_problems_live_venue_id",
        "order_problems",
        ["venue_id"],
        unique=False,
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.create_index(
        op.f("ix_order_problems_status_opened_at"),
        "order_problems",
        ["status", "opened_at"],
        unique=False,
    )
    op.create_index(
        "uq_order_problems_live_order",
        "order_problems",
        ["order_id", "rule"],
        unique=True,
        postgresql_where=sa.text("ended_at IS NULL AND order_id IS NOT NULL"),
    )
    op.create_index(
        "uq_order_problems_live_venue",
        "order_problems",
        ["venue_id", "rule"],
        unique=True,
        postgresql_where=sa.text("ended_at IS NULL AND order_id IS NULL"),
    )
    op.create_table(
        "order_states",
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("state", postgresql.JSON(astext_type=sa.Text()), nullable=True),
        sa.Column("version", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), server_default="-1", nullable=False),
        sa.Column("venue_id", sa.BigInteger(), nullable=True),
        sa.Column("city_id", sa.BigInteger(), nullable=True),
        sa.Column("known", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("terminal", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_order_states")),
    )
    op.create_index(
        op.f("ix_order_states_next_due_at"),
        "order_states",
        ["next_due_at"],
        unique=False,
        postgresql_where=sa.text("next_due_at IS NOT NULL"),
    )
    op.create_table(
        "venue_changes",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("venue_id", sa.BigInteger(), nullable=False),
        sa.Column("city_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venue_changes")),
    )
    op.create_table(
        "venue_checks",
        sa.Column("venue_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("city_id", sa.BigInteger(), nullable=True),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("venue_id", name=op.f("pk_venue_checks")),
    )
    op.create_index(
        op.f("ix_venue_checks_next_due_at"),
        "venue_checks",
        ["next_due_at"],
        unique=False,
        postgresql_where=sa.text("next_due_at IS NOT NULL"),
    )
    op.create_table(
        "venue_outcomes",
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("venue_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_venue_outcomes")),
    )
    op.create_index(
        op.f("ix_venue_outcomes_venue_id_at"), "venue_outcomes", ["venue_id", "at"], unique=False
    )
    op.create_table(
        "problem_history",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("problem_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("change", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(
            ["problem_id"],
            ["order_problems.problem_id"],
            name=op.f("fk_problem_history_problem_id_order_problems"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_problem_history")),
    )
    op.create_index(
        op.f("ix_problem_history_problem_id_id"),
        "problem_history",
        ["problem_id", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_problem_history_problem_id_id"), table_name="problem_history")
    op.drop_table("problem_history")
    op.drop_index(op.f("ix_venue_outcomes_venue_id_at"), table_name="venue_outcomes")
    op.drop_table("venue_outcomes")
    op.drop_index(
        op.f("ix_venue_checks_next_due_at"),
        table_name="venue_checks",
        postgresql_where=sa.text("next_due_at IS NOT NULL"),
    )
    op.drop_table("venue_checks")
    op.drop_table("venue_changes")
    op.drop_index(
        op.f("ix_order_states_next_due_at"),
        table_name="order_states",
        postgresql_where=sa.text("next_due_at IS NOT NULL"),
    )
    op.drop_table("order_states")
    op.drop_index(
        "uq_order_problems_live_venue",
        table_name="order_problems",
        postgresql_where=sa.text("ended_at IS NULL AND order_id IS NULL"),
    )
    op.drop_index(
        "uq_order_problems_live_order",
        table_name="order_problems",
        postgresql_where=sa.text("ended_at IS NULL AND order_id IS NOT NULL"),
    )
    op.drop_index(op.f("ix_order_problems_status_opened_at"), table_name="order_problems")
    op.drop_index(
        "ix_order_problems_live_venue_id",
        table_name="order_problems",
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.drop_table("order_problems")
    op.drop_table("checks_watermark")
