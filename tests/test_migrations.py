"""Schema changes only through migrations: they must build exactly the models' schema."""

from __future__ import annotations

from typing import Any

from store import migrate


def test_migrated_schema_matches_the_models(database: Any) -> None:
    # Given the session database built by the real migrations
    # When compared with the SQLAlchemy models / Then there is no drift
    assert migrate.drift(database.engine) == []


def test_upgrade_is_idempotent(database: Any) -> None:
    migrate.upgrade(database.engine)
    assert migrate.drift(database.engine) == []
