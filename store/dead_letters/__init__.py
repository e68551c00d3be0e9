"""Dead letters: every message rejected without retry, with its reason (`rejected_messages`),
and what `larder dlq` did to it since (replays, purge)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from store.db import Database
from store.dead_letters import queries


def message_fingerprint(queue_name: str, message_id: str) -> str:
    """A rejection's key for a Dramatiq message: its queue and id."""
    return f"message:{queue_name}:{message_id}"


def raw_fingerprint(queue_name: str, body: bytes) -> str:
    """A rejection's key for a body that never became a message: its queue and bytes."""
    return "raw:" + hashlib.sha256(queue_name.encode() + b"\0" + body).hexdigest()


def record(connection: psycopg.Connection[Any], rejection: dict[str, Any]) -> None:
    """Record one rejection (fingerprint, message_id, queue_name, actor_name, reason,
    raw_body); the same fingerprint twice is recorded once, unless it was replayed since."""
    connection.execute(queries.RECORD_REJECTION, rejection)


def recent(connection: psycopg.Connection[Any], limit: int) -> list[dict[str, Any]]:
    """The newest rejections first."""
    return _rows(connection, queries.RECENT_REJECTIONS, {"limit": limit})


def matching(
    connection: psycopg.Connection[Any],
    queues: list[str],
    reason: str,
    since: datetime,
    limit: int,
) -> list[dict[str, Any]]:
    """The newest rejections on `queues` (all when empty) since `since` whose reason contains
    `reason` (any case)."""
    params = {"queues": queues, "since": since, "reason": f"%{reason}%", "limit": limit}
    return _rows(connection, queries.MATCHING_REJECTIONS, params)


def by_fingerprint(
    connection: psycopg.Connection[Any], fingerprints: list[str]
) -> dict[str, dict[str, Any]]:
    rows = _rows(connection, queries.REJECTIONS_BY_FINGERPRINT, {"fingerprints": fingerprints})
    return {row["fingerprint"]: row for row in rows}


def one(connection: psycopg.Connection[Any], key: str) -> dict[str, Any] | None:
    """A rejection by its record id (`#12` or `12`) or its message id."""
    number = key.lstrip("#")
    params = {"id": int(number) if number.isdigit() else -1, "message_id": key}
    rows = _rows(connection, queries.REJECTION, params)
    return rows[0] if rows else None


def mark_replayed(connection: psycopg.Connection[Any], fingerprint: str) -> None:
    connection.execute(queries.MARK_REPLAYED, {"fingerprint": fingerprint})


def mark_purged(connection: psycopg.Connection[Any], fingerprint: str) -> None:
    connection.execute(queries.MARK_PURGED, {"fingerprint": fingerprint})


def _rows(
    connection: psycopg.Connection[Any], sql: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    with connection.cursor(row_factory=dict_row) as cursor:
        return list(cursor.execute(sql, params))


def prune(database: Database, older_than_days: int, chunk: int = 10_000) -> int:
    """Delete rejections older than the retention, in chunks; returns how many went."""
    return database.delete_in_chunks(queries.PRUNE_REJECTIONS, {"days": older_than_days}, chunk)
