"""user changes carry when they are due: a refresh that failed, or found no model, marks its
users due again later instead of losing them

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 21:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("user_changes", "changed_at", new_column_name="due_at")


def downgrade() -> None:
    op.alter_column("user_changes", "due_at", new_column_name="changed_at")
