"""Every table, one metadata (SQLAlchemy Core): each capability defines its own tables in
`store/<capability>/tables.py`; this module gathers them for Alembic, the drift check
(`larder db check`) and the tests. Alembic migrations must match these; CI checks it.

There are deliberately no foreign keys between independently published entities (an order can
arrive before its venue's catalog event); only order lines reference their order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from store.dead_letters import tables as dead_letters
from store.intake import tables as intake
from store.metadata import metadata
from store.order_checks import tables as order_checks
from store.recs import tables as recs
from store.security import tables as security

CAPABILITIES = (intake, recs, order_checks, dead_letters, security)

__all__ = ["CAPABILITIES", "metadata"]


def counts(connection: psycopg.Connection[Any], names: Sequence[str]) -> list[tuple[str, int]]:
    """(table, rows) of the named tables, in that order (`larder demo`)."""
    unknown = set(names) - set(metadata.tables)
    if unknown:
        raise ValueError(f"unknown tables: {sorted(unknown)}")
    parts = [f"SELECT '{name}', count(*) FROM {name}" for name in names]  # known names only
    return [(str(t), int(n)) for t, n in connection.execute(" UNION ALL ".join(parts))]
