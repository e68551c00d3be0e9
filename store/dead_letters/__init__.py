"""Dead letters: every message rejected without retry, with its reason (`rejected_messages`)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from store.db import Database
from store.dead_letters import queries


def record(connection: psycopg.Connection[Any], rejection: dict[str, Any]) -> None:
    """Record one rejection (fingerprint, message_id, queue_name, actor_name, reason,
    raw_body); the same fingerprint twice is recorded once."""
    connection.execute(queries.RECORD_REJECTION, rejection)


def recent(connection: psycopg.Connection[Any], limit: int) -> list[dict[str, Any]]:
    """The newest rejections first."""
    with connection.cursor(row_factory=dict_row) as cursor:
        return list(cursor.execute(queries.RECENT_REJECTIONS, {"limit": limit}))


def prune(database: Database, older_than_days: int, chunk: int = 10_000) -> int:
    """Delete rejections older than the retention, in chunks; returns how many went."""
    return database.delete_in_chunks(queries.PRUNE_REJECTIONS, {"days": older_than_days}, chunk)
