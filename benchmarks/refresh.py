"""Full refresh of every list of a large seeded world, beside the ceiling of COPY-upserting the
same rows, measured in the same run; plus the workers' memory.

1. A world (default 100k users, 2k venues, ~100k items, 8 cities, 30 days of orders ending now)
   is generated and COPied into a fresh database; activity events with a venue are kept.
2. The model bundle is trained in this process (timed: it is the daily `train_models` job).
3. A tracked run (`actors.recs.start_run`, what `larder recs refresh --all` does) is enqueued, then
   the Procfile's worker command starts on the `recs` queue. The clock runs from the first job
   taken to the last chunk recorded done. Memory: peak RSS (VmHWM) of each worker process.
4. Ceiling: the rows the refresh wrote are COPied into a temporary table and upserted into an
   empty copy of `recommendations`, in batches of the same size a job writes.

    python -m benchmarks.refresh [--users 100000] [--venues 2000] [--processes 2 --threads 2]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.intake import RABBITMQ, copy_rows, fresh_database, queue_depth
from domain.intake import plan
from schemas import parse_event
from synthetic.world import WorldConfig, generate
from workers.queues import delete_queues

ROOT = Path(__file__).resolve().parents[1]


def load_world(db_url: str, config: WorldConfig) -> dict[str, int]:
    """Generate the world and COPY it in; activity without a venue is left out (no ranker
    reads it). Returns row counts per event type."""
    counts: dict[str, int] = {}
    events = []
    for event in generate(config):
        if event["type"] == "activity" and not event.get("venue_id"):
            continue
        events.append(event)
    groups = plan(parse_event(e) for e in events)
    with psycopg.connect(db_url) as conn:
        for event_type, rows in groups.items():
            counts[event_type] = len(rows)
            for table, columns, values in copy_rows(event_type, rows):
                with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for value in values:
                        copy.write_row(value)
        conn.commit()
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return counts


def reuse(db_url: str) -> dict[str, int]:
    """A kept world: empty what a run writes, count what is there."""
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "TRUNCATE recommendations, fallback_recommendations, refresh_runs, refresh_run_chunks,"
            " user_changes"
        )
        conn.execute("DROP TABLE IF EXISTS ceiling")
        counts = conn.execute("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM orders)")
        users, orders = counts.fetchone() or (0, 0)
    return {"user.upserted": users, "order.completed": orders}


def configure(db_url: str, prefix: str) -> None:
    """Settings for the in-process parts (read once, at first use)."""
    os.environ.update(
        DATABASE_URL=db_url,
        RABBITMQ_URL=RABBITMQ,
        LARDER_QUEUE_PREFIX=prefix,
        LARDER_LOG_LEVEL="WARNING",
    )


LISTS = "discovery,category,items"  # the four list surfaces (cart is combined at read time)


@contextmanager
def recs_workers(
    prefix: str, db_url: str, processes: int, threads: int, surfaces: str = ""
) -> Iterator[int]:
    """`dramatiq workers.broker actors.recs` as the Procfile runs it, ranking `surfaces`
    (LARDER_REFRESH_SURFACES; empty: all); yields its group id."""
    env = {
        **os.environ,
        "LARDER_REFRESH_SURFACES": surfaces,
        "LARDER_QUEUE_PREFIX": prefix,
        "DATABASE_URL": db_url,
        "RABBITMQ_URL": RABBITMQ,
        "LARDER_LOG_LEVEL": "WARNING",
        "LARDER_DB_POOL_SIZE": str(threads + 2),
        "OPENBLAS_NUM_THREADS": "1",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    command = ["dramatiq", "workers.broker", "actors.recs", "--queues", prefix + "recs"]
    command += ["--processes", str(processes), "--threads", str(threads)]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    try:
        yield proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)


def peak_rss_mib(group: int) -> dict[int, float]:
    """VmHWM (peak resident memory) of every process in the group, MiB."""
    peaks = {}
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != group:
                continue
            text = (status.parent / "status").read_text()
        except (OSError, IndexError, ValueError):
            continue
        for line in text.splitlines():
            if line.startswith("VmHWM:"):
                peaks[int(status.parent.name)] = int(line.split()[1]) / 1024
    return peaks


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU time of each process still there, seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / tick
    return found


def group_pids(group: int) -> list[int]:
    pids = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(status.read_text().rsplit(")", 1)[1].split()[2]) == group:
                pids.append(int(status.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return pids


def backend_pids(db_url: str) -> list[int]:
    """The Postgres backends connected to the world's database (the workers' pools), this
    connection's own excepted."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
        return [row[0] for row in rows]


def run_status(db_url: str, run_id: int) -> dict[str, Any]:
    with psycopg.connect(db_url) as conn:
        from store.recs import runs

        return runs.status(conn, run_id) or {}


def full_refresh(
    db_url: str, prefix: str, args: argparse.Namespace, surfaces: str = ""
) -> dict[str, Any]:
    from actors.recs import refresh_fallbacks, start_run
    from store import recs

    with psycopg.connect(db_url) as conn:
        users = recs.users_to_refresh(conn, None)
    started = time.perf_counter()
    refresh_fallbacks()
    fallbacks_s = time.perf_counter() - started
    run_id = start_run("benchmark", users, args.chunk)
    chunks = -(-len(users) // args.chunk)
    queue = prefix + "recs"
    memory: dict[int, float] = {}
    with recs_workers(prefix, db_url, args.processes, args.threads, surfaces) as group:
        while (depth := queue_depth(queue)) is None or depth >= chunks:
            time.sleep(0.01)
        started = time.perf_counter()
        workers_cpu = cpu_seconds(group_pids(group))
        backends_cpu = cpu_seconds(backend_pids(db_url))
        while not (status := run_status(db_url, run_id)).get("finished"):
            time.sleep(0.25)
            memory |= peak_rss_mib(group)
        elapsed = time.perf_counter() - started
        workers_s = _spent(workers_cpu, cpu_seconds(group_pids(group)))
        backends_s = _spent(backends_cpu, cpu_seconds(backend_pids(db_url)))
        memory |= peak_rss_mib(group)
    with psycopg.connect(db_url, autocommit=True) as conn:  # as `larder recs refresh` does
        recs.analyze(conn)
    return {
        "users": len(users),
        "seconds": elapsed,
        "users_per_s": len(users) / elapsed,
        "failed_chunks": status["failed_chunks"],
        "fallbacks_s": fallbacks_s,
        "memory_mib": sorted(memory.values()),
        "cpu_ms_per_1k_users": {
            "workers": workers_s / len(users) * 1e6,
            "postgres": backends_s / len(users) * 1e6,
        },
    }


def _spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds the processes spent between two readings (a process that left is not
    counted; one that came counts from its start; Postgres' parallel workers are missed)."""
    return sum(after[pid] - before.get(pid, 0.0) for pid in after)


def copy_ceiling(db_url: str, users: int, chunk: int) -> dict[str, float]:
    """Upsert the rows the refresh wrote, by binary COPY (as the refresh writes them), in
    job-sized batches, into an empty table."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE ceiling (LIKE recommendations INCLUDING ALL)")
        conn.execute("ALTER TABLE ceiling SET (toast_tuple_target = 8160)")  # as migration 0008
        batches = []
        for start in range(0, users, chunk):
            buffer = io.BytesIO()
            sql = (
                "COPY (SELECT user_id, surface, contexts, bounds, ids, scores, inputs_at"
                " FROM recommendations r JOIN (SELECT user_id FROM users ORDER BY user_id"
                f" OFFSET {start} LIMIT {chunk}) u USING (user_id)) TO STDOUT (FORMAT binary)"
            )
            with conn.cursor().copy(sql) as copy:
                for data in copy:
                    buffer.write(data)
            batches.append(buffer.getvalue())
        rows, lists = conn.execute(
            "SELECT count(*), sum(cardinality(contexts)) FROM recommendations"
        ).fetchone()  # type: ignore[misc]
        started = time.perf_counter()
        for data in batches:
            with conn.transaction():
                conn.execute(
                    "CREATE TEMP TABLE incoming (user_id bigint, surface text, contexts bigint[],"
                    " bounds int[], ids bigint[], scores real[], inputs_at timestamptz)"
                    " WITH (toast_tuple_target = 8160) ON COMMIT DROP"
                )
                with conn.cursor().copy("COPY incoming FROM STDIN (FORMAT binary)") as copy:
                    copy.write(data)
                conn.execute(
                    "INSERT INTO ceiling (user_id, surface, contexts, bounds, ids, scores,"
                    " model_version, inputs_at, computed_at) SELECT user_id, surface, contexts,"
                    " bounds, ids, scores, 'c', inputs_at, now() FROM incoming"
                    " ON CONFLICT (user_id, surface) DO UPDATE SET contexts = EXCLUDED.contexts,"
                    " bounds = EXCLUDED.bounds, ids = EXCLUDED.ids, scores = EXCLUDED.scores"
                )
        elapsed = time.perf_counter() - started
    return {
        "rows": rows,
        "lists": lists,
        "rows_per_s": rows / elapsed,
        "users_per_s": users / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--venues", type=int, default=2_000)
    parser.add_argument("--items-per-venue", type=int, default=50)
    parser.add_argument("--cities", type=int, default=8)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--keep", action="store_true", help="Keep the database (prints its URL).")
    parser.add_argument("--db", help="Reuse a database kept by --keep (its lists are emptied).")
    args = parser.parse_args()
    config = WorldConfig(
        cities=args.cities,
        venues=args.venues,
        items_per_venue=args.items_per_venue,
        users=args.users,
        days=args.days,
        end=datetime.now(UTC).replace(microsecond=0),
    )
    db_url = args.db or fresh_database()
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    configure(db_url, prefix)
    from store.server import drop_database

    try:
        started = time.perf_counter()
        counts = reuse(db_url) if args.db else load_world(db_url, config)
        load_s = time.perf_counter() - started
        from actors.recs.training import train_version

        started = time.perf_counter()
        version = train_version()
        train_s = time.perf_counter() - started
        lists_only = full_refresh(db_url, prefix, args, LISTS)
        reuse(db_url)  # the same empty tables for the second refresh
        refresh = full_refresh(db_url, prefix, args)
        ceiling = copy_ceiling(db_url, refresh["users"], args.chunk)
    finally:
        if not (args.keep or args.db):
            drop_database(db_url)
        delete_queues(RABBITMQ, prefix)
    kept = db_url if (args.keep or args.db) else None
    report(args, counts, load_s, version, train_s, refresh, ceiling, kept)
    per_user = lists_only["users_per_s"] / refresh["users_per_s"]
    print(
        f"| the four list surfaces only | {lists_only['users_per_s']:,.0f} users/s"
        f" ({lists_only['seconds']:.1f} s) | all seven take {per_user:.2f}x their time per user"
        " (ceiling 1.3) |"
    )
    for name, run in (("four list surfaces", lists_only), ("all seven", refresh)):
        cpu = run["cpu_ms_per_1k_users"]
        print(
            f"CPU per 1,000 users, {name}: workers {cpu['workers']:,.0f} ms,"
            f" their Postgres backends {cpu['postgres']:,.0f} ms"
        )


def report(
    args: argparse.Namespace,
    counts: dict[str, int],
    load_s: float,
    version: str,
    train_s: float,
    refresh: dict[str, Any],
    ceiling: dict[str, float],
    kept: str | None,
) -> None:
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cpus, Python {platform.python_version()}"
    )
    print(f"world: {counts} loaded in {load_s:.1f} s; model {version} trained in {train_s:.1f} s")
    print(f"workers: {args.processes} processes x {args.threads} threads, {args.chunk} users/job")
    lists, rows = ceiling["lists"], ceiling["rows"]
    print(
        f"| full refresh | {refresh['users']:,} users, {lists:,} lists in {rows:,} rows | ratio |"
    )
    print("|---|---|---|")
    print(
        f"| larder (`refresh_lists` jobs) | **{refresh['users_per_s']:,.0f} users/s**"
        f" ({refresh['seconds']:.1f} s, {refresh['failed_chunks']} chunks failed) |"
        f" {refresh['users_per_s'] / ceiling['users_per_s']:.2f} |"
    )
    print(
        f"| ceiling: COPY-upsert of the same rows | {ceiling['users_per_s']:,.0f} users/s"
        f" ({ceiling['rows_per_s']:,.0f} rows/s) | 1 |"
    )
    print(f"cold-start lists: {refresh['fallbacks_s']:.1f} s")
    print(f"worker peak RSS per process (MiB): {[round(m) for m in refresh['memory_mib']]}")
    if kept:
        print(f"database kept: {kept}")


if __name__ == "__main__":
    main()
