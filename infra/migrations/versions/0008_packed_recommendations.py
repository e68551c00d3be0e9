"""recommendations: one row per user and surface, every context's list end to end

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 19:45:00

The lists already stored are carried over (packed, contexts in ascending order), so readers keep
getting personal lists through the upgrade; the downgrade unpacks them again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Rows up to a page stay inline and uncompressed (an items row is ~5 kB): no TOAST work on the
# write or the read. Bigger ones (many categories) are still compressed, then moved out of line.
STORAGE = "ALTER TABLE recommendations SET (toast_tuple_target = 8160)"

PACK = """
    INSERT INTO recommendations
        (user_id, surface, contexts, bounds, ids, scores, model_version, inputs_at, computed_at)
    SELECT g.user_id, g.surface, g.contexts, g.bounds,
           ARRAY(SELECT e.id FROM recommendations_by_context o,
                 unnest(o.ids) WITH ORDINALITY AS e(id, n)
                 WHERE o.user_id = g.user_id AND o.surface = g.surface
                 ORDER BY o.context, e.n),
           ARRAY(SELECT e.score FROM recommendations_by_context o,
                 unnest(o.scores) WITH ORDINALITY AS e(score, n)
                 WHERE o.user_id = g.user_id AND o.surface = g.surface
                 ORDER BY o.context, e.n),
           g.model_version, g.inputs_at, g.computed_at
    FROM (
        SELECT user_id, surface, array_agg(context ORDER BY context) AS contexts,
               array_prepend(0, array_agg(ends::int ORDER BY context)) AS bounds,
               min(model_version) AS model_version, max(inputs_at) AS inputs_at,
               min(computed_at) AS computed_at
        FROM (SELECT *, sum(cardinality(ids)) OVER (
                  PARTITION BY user_id, surface ORDER BY context) AS ends
              FROM recommendations_by_context) l
        GROUP BY user_id, surface
    ) g
"""

UNPACK = """
    INSERT INTO recommendations_by_context
        (user_id, surface, context, ids, scores, model_version, inputs_at, computed_at)
    SELECT r.user_id, r.surface, c.context,
           r.ids[r.bounds[c.k] + 1 : r.bounds[c.k + 1]],
           r.scores[r.bounds[c.k] + 1 : r.bounds[c.k + 1]],
           r.model_version, r.inputs_at, r.computed_at
    FROM recommendations r, unnest(r.contexts) WITH ORDINALITY AS c(context, k)
"""


def _table(name: str, key: list[str], *columns: sa.Column) -> None:
    """A lists table: user and surface, then `columns`, then the lists and their stamps."""
    op.create_table(
        name,
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("surface", sa.Text(), nullable=False),
        *columns,
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
        sa.PrimaryKeyConstraint(*key, name=op.f(f"pk_{name}")),
    )


def _by_context(name: str) -> None:
    context = sa.Column("context", sa.BigInteger(), autoincrement=False, nullable=False)
    _table(name, ["user_id", "surface", "context"], context)


def _packed() -> None:
    _table(
        "recommendations",
        ["user_id", "surface"],
        sa.Column("contexts", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("bounds", postgresql.ARRAY(sa.Integer()), nullable=False),
    )
    op.execute(STORAGE)


def upgrade() -> None:
    op.rename_table("recommendations", "recommendations_by_context")
    op.execute("ALTER INDEX pk_recommendations RENAME TO pk_recommendations_by_context")
    _packed()
    op.execute(PACK)
    op.drop_table("recommendations_by_context")


def downgrade() -> None:
    _by_context("recommendations_by_context")
    op.execute(UNPACK)
    op.drop_table("recommendations")
    op.rename_table("recommendations_by_context", "recommendations")
    op.execute("ALTER INDEX pk_recommendations_by_context RENAME TO pk_recommendations")
