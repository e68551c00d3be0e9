"""Reads for operations: gauges counted in Postgres when Prometheus scrapes."""

from __future__ import annotations

from typing import Any, NamedTuple

import psycopg

from store.operations import queries


class RunProgress(NamedTuple):
    run_id: int
    total_chunks: int
    done_chunks: int
    failed_chunks: int


def waiting_changes(connection: psycopg.Connection[Any]) -> tuple[int, float]:
    """(users whose refresh is due and unclaimed, age in seconds of the oldest such mark)."""
    row = connection.execute(queries.WAITING_CHANGES).fetchone()
    return (0, 0.0) if row is None else (int(row[0]), float(row[1]))


def recent_runs(connection: psycopg.Connection[Any]) -> list[RunProgress]:
    return [RunProgress(*map(int, row)) for row in connection.execute(queries.RECENT_RUNS)]


def active_models(connection: psycopg.Connection[Any]) -> list[tuple[str, str, float]]:
    """(kind, version, age in seconds) of each active model."""
    return [(str(k), str(v), float(a)) for k, v, a in connection.execute(queries.ACTIVE_MODELS)]


def rejections_by_queue(connection: psycopg.Connection[Any]) -> dict[str, int]:
    return {str(q): int(n) for q, n in connection.execute(queries.REJECTIONS_BY_QUEUE)}
