"""Model versions in Postgres: stored whole, switched atomically, kept for rollback."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from domain.recs.items import Basket
from store.recs import queries


class UnknownVersion(LookupError):
    pass


def training_baskets(connection: psycopg.Connection[Any]) -> Iterator[Basket]:
    """Every order with its distinct items, as the models see it."""
    with connection.cursor(name="training_baskets") as cursor:  # server-side: streams
        cursor.execute(queries.TRAINING_BASKETS)
        yield from baskets(cursor)


def baskets(rows: Iterable[tuple[Any, ...]]) -> Iterator[Basket]:
    """Baskets from rows of (order_id, user_id, venue_id, placed_at, items)."""
    for order_id, user_id, venue_id, placed_at, items in rows:
        yield Basket(user_id, venue_id, placed_at, tuple(items), order_id)


def save(
    connection: psycopg.Connection[Any],
    version: str,
    kind: str,
    artefact: bytes,
    trained_on: dict[str, Any],
    metrics: dict[str, Any],
) -> None:
    connection.execute(
        queries.INSERT_MODEL_VERSION,
        {
            "version": version,
            "kind": kind,
            "artefact": artefact,
            "trained_on": Jsonb(trained_on),
            "metrics": Jsonb(metrics),
        },
    )


def activate(connection: psycopg.Connection[Any], kind: str, version: str) -> None:
    """Make `version` the active one of its kind; call inside one transaction."""
    connection.execute(queries.DEACTIVATE_MODELS, {"kind": kind})
    found = connection.execute(queries.ACTIVATE_MODEL, {"kind": kind, "version": version})
    if found.fetchone() is None:
        raise UnknownVersion(f"no {kind} model version {version!r}")


def versions(connection: psycopg.Connection[Any], kind: str) -> list[dict[str, Any]]:
    cursor = connection.execute(queries.LIST_MODEL_VERSIONS, {"kind": kind})
    names = [column.name for column in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def active(connection: psycopg.Connection[Any], kind: str) -> tuple[str, bytes] | None:
    row = connection.execute(queries.ACTIVE_MODEL, {"kind": kind}).fetchone()
    return (row[0], bytes(row[1])) if row else None


def active_age(connection: psycopg.Connection[Any], kind: str) -> timedelta | None:
    """How long ago the active version was created; None when there is none."""
    row = connection.execute(queries.ACTIVE_MODEL_AGE, {"kind": kind}).fetchone()
    return row[0] if row else None
