"""Precomputed recommendation lists: bulk writes and the one-lookup read."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import psycopg

from domain.recs.items import Basket
from schemas.rows import RecommendationList
from store import queries, registry

DEFAULT_MAX_AGE = timedelta(hours=72)


def user_baskets(connection: psycopg.Connection[Any], user_ids: Sequence[int]) -> Iterator[Basket]:
    yield from registry.baskets(
        connection.execute(queries.USER_BASKETS, {"user_ids": list(user_ids)})
    )


def ordering_users(connection: psycopg.Connection[Any]) -> list[int]:
    return [row[0] for row in connection.execute(queries.ORDERING_USERS)]


def stale_list_users(connection: psycopg.Connection[Any], ttl: timedelta, limit: int) -> list[int]:
    cursor = connection.execute(queries.STALE_LIST_USERS, {"ttl": ttl, "limit": limit})
    return [row[0] for row in cursor]


def active_version(connection: psycopg.Connection[Any], kind: str) -> str | None:
    row = connection.execute(queries.ACTIVE_MODEL_VERSION, {"kind": kind}).fetchone()
    return str(row[0]) if row else None


def write_lists(connection: psycopg.Connection[Any], rows: list[dict[str, Any]]) -> int:
    """Upsert user lists; a list from older inputs than the stored one is skipped."""
    return _upsert(connection, queries.UPSERT_RECOMMENDATIONS, rows)


def write_fallbacks(connection: psycopg.Connection[Any], rows: list[dict[str, Any]]) -> int:
    return _upsert(connection, queries.UPSERT_FALLBACKS, rows)


def _upsert(connection: psycopg.Connection[Any], sql: str, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    cursor = connection.execute(sql, {"rows": json.dumps(rows, separators=(",", ":"))})
    return max(cursor.rowcount, 0)


def read(
    connection: psycopg.Connection[Any],
    user_id: int,
    surface: str,
    context: int = 0,
    max_age: timedelta = DEFAULT_MAX_AGE,
) -> RecommendationList | None:
    """One indexed query: the user's fresh list, else the fallback; None when neither exists."""
    params = {"user_id": user_id, "surface": surface, "context": context, "max_age": max_age}
    row = connection.execute(queries.READ_RECOMMENDATIONS, params, prepare=True).fetchone()
    if row is None:
        return None
    ids, scores, version, computed_at, fallback = row
    return RecommendationList(
        user_id=user_id,
        surface=surface,
        context=context,
        ids=ids,
        scores=scores,
        model_version=version,
        computed_at=computed_at,
        fallback=fallback,
    )
