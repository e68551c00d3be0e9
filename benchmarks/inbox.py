"""The support console's cost on Postgres, each figure beside a ceiling measured in the same run:

  the console's poll: list_problems(open, by severity,   vs  the same SQL, rows fetched as bare
  1,000 rows) as the page asks for every 3 s per agent       tuples (no model building)
  an agent's action: assign (version check, history row,  vs  a bare committed
  the record read back), one transaction each                  `UPDATE ... SET version = version + 1`

A throwaway database (created, migrated, dropped at the end) holds `--open` open problems over
50 cities and 500 venues (a third critical) and `--resolved` resolved ones, each with an
`opened` history row, written with one INSERT ... SELECT each.

    python -m benchmarks.inbox [--open 2000] [--resolved 200000] [--polls 200] [--actions 500]
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg

from benchmarks.reads import fresh_database
from store.order_checks import inbox, queries

SEED = """
    INSERT INTO order_problems (rule, order_id, venue_id, city_id, severity, status, since,
                                opened_at, last_seen_at, resolved_at, ended_at, details)
    SELECT 'venue_not_accepting', 'ORD-' || n, n %% 500 + 1, n %% 50 + 1,
           CASE WHEN n %% 3 = 0 THEN 'critical' ELSE 'warning' END,
           CASE WHEN n <= %(open)s THEN 'open' ELSE 'resolved' END,
           now() - make_interval(secs => n), now() - make_interval(secs => n), now(),
           CASE WHEN n > %(open)s THEN now() END, CASE WHEN n > %(open)s THEN now() END,
           jsonb_build_object('overdue_minutes', n %% 30, 'threshold_minutes', 5)
    FROM generate_series(1, %(open)s + %(resolved)s) AS n
"""
SEED_HISTORY = """
    INSERT INTO problem_history (problem_id, at, change, actor)
    SELECT problem_id, opened_at, 'opened', 'larder' FROM order_problems
"""
BARE_UPDATE = "UPDATE order_problems SET version = version + 1 WHERE problem_id = %s"


def timed(run: Callable[[], Any], times: int) -> list[float]:
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return seconds


def polls(conn: psycopg.Connection[Any], times: int) -> tuple[list[float], list[float], int]:
    """(console poll, bare fetch) latencies, alternating, and the rows a poll returns."""
    filters = inbox.Filters("open", limit=1000, by_severity=True)
    now = datetime.now(UTC)
    params = {"state": "open", "city_id": None, "rule": None, "assignee": None}
    bare = {**params, "limit": 1000, "now": now}
    rows = len(inbox.list_problems(conn, filters, now))
    console, ceiling = [], []
    for _ in range(times):
        console += timed(lambda: inbox.list_problems(conn, filters, now), 1)
        ceiling += timed(lambda: conn.execute(queries.INBOX_BY_SEVERITY, bare).fetchall(), 1)
    return console, ceiling, rows


def actions(conn: psycopg.Connection[Any], times: int) -> tuple[list[float], list[float]]:
    """(assign, bare update) latencies, one committed transaction each, alternating."""
    assign, ceiling = [], []
    for n in range(1, times + 1):
        version = inbox.get_problem(conn, n).version
        act = inbox.Act(n, version, "bench", datetime.now(UTC))
        assign += timed(functools.partial(_assign, conn, act), 1)
        ceiling += timed(functools.partial(_bare_update, conn, n), 1)
    return assign, ceiling


def _assign(conn: psycopg.Connection[Any], act: inbox.Act) -> None:
    with conn.transaction():
        inbox.assign(conn, act, "agent-b")


def _bare_update(conn: psycopg.Connection[Any], problem_id: int) -> None:
    with conn.transaction():
        conn.execute(BARE_UPDATE, (problem_id,))


def ms(seconds: list[float], q: float) -> float:
    return float(np.percentile(seconds, q)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--open", type=int, default=2000)
    parser.add_argument("--resolved", type=int, default=200_000)
    parser.add_argument("--polls", type=int, default=200)
    parser.add_argument("--actions", type=int, default=500)
    args = parser.parse_args()
    from store.server import drop_database

    url = fresh_database("inbox")
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SEED, {"open": args.open, "resolved": args.resolved})
            conn.execute(SEED_HISTORY)
            conn.execute("VACUUM ANALYZE order_problems")
            conn.execute("VACUUM ANALYZE problem_history")
            console, bare, rows = polls(conn, args.polls)
            acted, updated = actions(conn, min(args.actions, args.open))
    finally:
        drop_database(url)
    print(
        f"machine: {platform.node()} {os.cpu_count()} cores, Python"
        f" {platform.python_version()}; {args.open:,} open + {args.resolved:,} resolved problems;"
        f" load average at the end {os.getloadavg()[0]:.2f} (anything else running skews it)"
    )
    for name, run, ceiling in (
        (f"console poll ({rows} rows)", console, bare),
        ("assign action", acted, updated),
    ):
        print(
            f"{name}: p50 {ms(run, 50):.2f} ms, p95 {ms(run, 95):.2f} ms"
            f" | ceiling p50 {ms(ceiling, 50):.2f} ms, p95 {ms(ceiling, 95):.2f} ms"
            f" | ratio (p50) {ms(run, 50) / ms(ceiling, 50):.2f}"
        )


if __name__ == "__main__":
    main()
