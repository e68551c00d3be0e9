"""larder_local_hour(zone, at): the hour of `at` in a city's time zone, UTC when the zone is
unknown or missing -- so a food-categories read picks the day-part in its one statement

Revision ID: 0090
Revises: 0080
Create Date: 2026-12-07 03:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0090"
down_revision = "0080"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # AT TIME ZONE raises on a name Postgres does not know (22023); Python's reader falls back to
    # UTC there, and so does this (cities' time zones are only pattern-checked at intake).
    op.execute(
        """
        CREATE FUNCTION larder_local_hour(zone text, at timestamptz) RETURNS integer
        LANGUAGE plpgsql STABLE AS $$
        BEGIN
            RETURN extract(hour FROM at AT TIME ZONE coalesce(zone, 'UTC'))::integer;
        EXCEPTION WHEN invalid_parameter_value THEN
            RETURN extract(hour FROM at AT TIME ZONE 'UTC')::integer;
        END $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION larder_local_hour(text, timestamptz)")
