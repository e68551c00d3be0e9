"""Brands, food categories and banners: what their rankers read, the guarded reads, overrides."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg

from domain.recs.banners import BannerRow, StatRow
from domain.recs.personal import (
    PROPENSITY_CONTEXT,
    Served,
    apply_overrides,
    daypart_mask,
)
from schemas.recs import RecommendationList
from store.recs import queries
from store.recs.availability import _hours

READS = {
    "banners": queries.READ_BANNERS,
    "brands": queries.READ_BRANDS,
    "food_categories": queries.READ_FOOD_CATEGORIES,
}
TARGETS = {"banners": "banner", "brands": "brand", "food_categories": "category"}


def banners(connection: psycopg.Connection[Any]) -> list[BannerRow]:
    """Every banner; `active` is false for one paused by an override."""
    rows = connection.execute(queries.ALL_BANNERS)
    return [
        BannerRow(b, tuple(c), tuple(cat), tuple(br), tuple(v), tuple(s), st, en, bool(a))
        for b, c, cat, br, v, s, st, en, a in rows
    ]


def banners_version(connection: psycopg.Connection[Any]) -> tuple[int, datetime | None]:
    row = connection.execute(queries.BANNERS_VERSION).fetchone()
    return (int(row[0]), row[1]) if row else (0, None)


def banner_stats(connection: psycopg.Connection[Any]) -> list[StatRow]:
    return [StatRow(*row) for row in connection.execute(queries.BANNER_STATS)]


def venue_dayparts(connection: psycopg.Connection[Any]) -> dict[int, int]:
    """Per venue, the day-parts it is open in (domain.recs.personal.daypart_mask)."""
    return {v: daypart_mask(_hours(h)) for v, h in connection.execute(queries.VENUE_HOURS)}


def user_tags(connection: psycopg.Connection[Any], user_ids: Sequence[int]) -> dict[int, str]:
    cursor = connection.execute(queries.USER_TAGS, {"user_ids": list(user_ids)})
    return {int(u): str(s) for u, s in cursor}


def read(
    connection: psycopg.Connection[Any],
    user_id: int,
    surface: str,
    context: int,
    max_age: timedelta,
) -> RecommendationList | None:
    """One query: the user's (or the fallback) ordering with what must never be served dropped,
    then (banners) the city's pins placed. Food categories at context 0: the day-part now in
    the user's city, chosen in the same query."""
    params = {
        "user_id": user_id,
        "surface": surface,
        "context": context,
        "propensities": PROPENSITY_CONTEXT if surface == "banners" else -1,
        "target": TARGETS[surface],
        "max_age": max_age,
    }
    row = connection.execute(READS[surface], params, prepare=True).fetchone()
    if row is None:
        return None
    ids, scores, props, version, computed_at, fallback, pinned, slots, context = row
    served = Served(ids or [], scores or [], props if surface == "banners" else None)
    if surface == "banners" and served.propensities is None:
        served = Served(served.ids, served.scores, [1.0] * len(served.ids))
    served = apply_overrides(served, list(zip(pinned or [], slots or [], strict=True)))
    return RecommendationList(
        user_id=user_id,
        surface=surface,
        context=context,
        ids=served.ids,
        scores=served.scores,
        propensities=served.propensities,
        model_version=version,
        computed_at=computed_at,
        fallback=fallback,
    )


def add_override(connection: psycopg.Connection[Any], **fields: Any) -> int:
    row = connection.execute(queries.ADD_OVERRIDE, fields).fetchone()
    assert row is not None
    return int(row[0])


def overrides(connection: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    cursor = connection.execute(queries.LIST_OVERRIDES)
    names = [c.name for c in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def remove_override(connection: psycopg.Connection[Any], override_id: int) -> bool:
    found = connection.execute(queries.REMOVE_OVERRIDE, {"override_id": override_id})
    return found.fetchone() is not None


def run_activity(connection: psycopg.Connection[Any], run: str) -> int:
    """Activity events whose id starts with `run` (a simulation's)."""
    return _count(connection, queries.RUN_ACTIVITY, {"prefix": f"{run}-%"})


def banner_rows_since(connection: psycopg.Connection[Any], since: datetime) -> int:
    return _count(connection, queries.BANNER_ROWS_SINCE, {"since": since})


def known_users(connection: psycopg.Connection[Any]) -> int:
    return _count(connection, queries.KNOWN_USERS, {})


def known_banners(connection: psycopg.Connection[Any], ids: Sequence[int]) -> int:
    return _count(connection, queries.KNOWN_BANNERS, {"ids": list(ids)})


def _count(connection: psycopg.Connection[Any], query: str, params: dict[str, Any]) -> int:
    row = connection.execute(query, params).fetchone()
    return int(row[0]) if row else 0


def banner_impression_log(connection: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    """(at, banner, 1-based slot, clicked, propensity, city) of every logged banner impression."""
    return connection.execute(queries.BANNER_IMPRESSION_LOG).fetchall()


def mark_banner_audiences(
    connection: psycopg.Connection[Any], since: datetime, until: datetime
) -> int:
    """Mark for a re-rank the users of the cities of every banner that went live in
    (since, until]; returns how many users were marked."""
    cursor = connection.execute(queries.MARK_BANNER_AUDIENCES, {"since": since, "until": until})
    return max(cursor.rowcount, 0)
