"""problem records name the cause that mutes them (one card per order, root cause first),
and the instant the rules found them at (judged_as_of)

Revision ID: 0080
Revises: 0070
Create Date: 2026-12-06 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0080"
down_revision = "0070"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("order_problems", sa.Column("muted_by", sa.Text()))
    op.add_column("order_problems", sa.Column("cause_problem_id", sa.BigInteger()))
    op.add_column("order_problems", sa.Column("judged_as_of", sa.DateTime(timezone=True)))
    op.create_foreign_key(
        op.f("fk_order_problems_cause_problem_id_order_problems"),
        "order_problems",
        "order_problems",
        ["cause_problem_id"],
        ["problem_id"],
        ondelete="SET NULL",
    )
    op.create_index(
        op.f("ix_order_problems_cause_problem_id"),
        "order_problems",
        ["cause_problem_id"],
        postgresql_where=sa.text("cause_problem_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_order_problems_cause_problem_id"), table_name="order_problems")
    op.drop_constraint(
        op.f("fk_order_problems_cause_problem_id_order_problems"),
        "order_problems",
        type_="foreignkey",
    )
    op.drop_column("order_problems", "judged_as_of")
    op.drop_column("order_problems", "cause_problem_id")
    op.drop_column("order_problems", "muted_by")
