"""Schema changes only through migrations: they must build exactly the models' schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine

from store import migrate
from store.db import make_engine
from store.server import drop_database, ensure_database


def test_migrated_schema_matches_the_models(database: Any) -> None:
    # Given the session database built by the real migrations
    # When compared with the SQLAlchemy models / Then there is no drift
    assert migrate.drift(database.engine) == []


def test_upgrade_is_idempotent(database: Any) -> None:
    migrate.upgrade(database.engine)
    assert migrate.drift(database.engine) == []


@pytest.fixture
def scratch(postgres_server: str) -> Iterator[Engine]:
    """A database of its own, for walking migrations up and down."""
    url = postgres_server.rsplit("/", 1)[0] + f"/larder_migrations_{uuid.uuid4().hex[:8]}"
    ensure_database(url)
    engine = make_engine(url, 1)
    yield engine
    engine.dispose()
    drop_database(url)


def test_packing_lists_keeps_them_through_upgrade_and_downgrade(scratch: Engine) -> None:
    # Given lists stored one row per context (before 0008): two category lists, one empty
    migrate.upgrade(scratch, "0007")
    with scratch.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO recommendations (user_id, surface, context, ids, scores, model_version,"
            " inputs_at, computed_at) VALUES"
            " (1, 'category', 9, '{7,8}', '{2,1}', 'm1', '2026-01-02', '2026-01-03'),"
            " (1, 'category', 4, '{}', '{}', 'm1', '2026-01-01', '2026-01-03'),"
            " (1, 'discovery', 0, '{5,6,7}', '{3,2,1}', 'm1', '2026-01-02', '2026-01-03')"
        )
    # When the database is upgraded
    migrate.upgrade(scratch)
    # Then each user's surface is one row, its lists in context order, and every list reads back
    with scratch.connect() as conn:
        packed = conn.exec_driver_sql(
            "SELECT surface, contexts, bounds, ids, inputs_at::date FROM recommendations"
            " ORDER BY surface"
        ).fetchall()
    assert [tuple(row) for row in packed] == [
        ("category", [4, 9], [0, 0, 2], [7, 8], date(2026, 1, 2)),
        ("discovery", [0], [0, 3], [5, 6, 7], date(2026, 1, 2)),
    ]
    # And a downgrade unpacks them again
    migrate.downgrade(scratch, "0007")
    with scratch.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT surface, context, ids, scores FROM recommendations ORDER BY surface, context"
        ).fetchall()
    assert [tuple(row) for row in rows] == [
        ("category", 4, [], []),
        ("category", 9, [7, 8], [2.0, 1.0]),
        ("discovery", 0, [5, 6, 7], [3.0, 2.0, 1.0]),
    ]
