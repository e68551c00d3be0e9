"""order_states.judged_at: the instant an order was last judged at

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


def downgrade() -> None:
    op.drop_column("order_states", "judged_at")
