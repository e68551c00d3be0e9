"""Apply planned intake rows in the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg

from store.db import Database
from store.intake import queries


def apply(
    connection: psycopg.Connection[Any], plan: Mapping[str, Sequence[Mapping[str, Any]]]
) -> int:
    """Write every group of rows; returns how many target rows changed (new or newer)."""
    changed = 0
    for event_type, rows in plan.items():
        params = {"rows": json.dumps(rows, separators=(",", ":")), "event_type": event_type}
        cursor = connection.execute(queries.INTAKE[event_type], params)
        changed += max(cursor.rowcount, 0)
    return changed


def prune_processed_events(database: Database, older_than_days: int, chunk: int = 10_000) -> int:
    """Delete idempotency records older than the retention, in chunks; returns how many went."""
    return database.delete_in_chunks(
        queries.PRUNE_PROCESSED_EVENTS, {"days": older_than_days}, chunk
    )


def sample_venues(connection: psycopg.Connection[Any], limit: int) -> list[tuple[Any, ...]]:
    """(venue_id, name, city_id, cuisines, rating) of the first venues."""
    return connection.execute(queries.SAMPLE_VENUES, {"limit": limit}).fetchall()


def latest_orders(connection: psycopg.Connection[Any], limit: int) -> list[tuple[Any, ...]]:
    """(order_id, user_id, venue_id, placed_at, lines) of the newest orders."""
    return connection.execute(queries.LATEST_ORDERS, {"limit": limit}).fetchall()
