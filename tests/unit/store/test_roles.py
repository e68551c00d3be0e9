"""The roles' description (pure data): every table is someone's decision, names are sane."""

from __future__ import annotations

from store.security import roles
from store.tables import metadata


def test_every_table_is_in_the_description() -> None:
    # A new table must be granted to the worker, or be kept from it on purpose
    for table in metadata.tables:
        assert table in roles.WORKER.tables or table in roles.NOT_FOR_WORKERS, table
    # And every table the description names exists
    for role in roles.ROLES:
        assert set(role.tables) <= set(metadata.tables), role.suffix


def test_the_reader_sees_results_and_catalog_columns_but_no_history_or_home() -> None:
    granted = roles.READER.tables
    assert set(granted) == {
        "recommendations",
        "fallback_recommendations",
        "users",
        "venues",
        "cities",
        "items",
    }
    assert all(p.startswith("SELECT") for p in granted.values())
    assert "home_lat" not in granted["users"] and "orders" not in granted


def test_no_role_but_the_worker_writes_results_and_only_the_api_reads_keys() -> None:
    assert [r.suffix for r in roles.ROLES if "api_keys" in r.tables] == ["api"]
    assert roles.API.tables["api_keys"] == "SELECT"
    assert [r.suffix for r in roles.ROLES if "INSERT" in r.tables.get("recommendations", "")] == [
        "worker"
    ]
