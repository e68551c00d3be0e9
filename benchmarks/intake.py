"""Intake throughput on the real RabbitMQ and Postgres, each beside a ceiling measured in the
same run:

  single-event messages  vs  a no-op Dramatiq actor fed the same messages
  1,000-event batches    vs  a plain COPY of the same rows into the same tables

Workers run as the Procfile runs them (`dramatiq workers.broker ...`, 2 processes x 48 threads by
default: the intake pool's, workers/pools.py). Each queue is prefilled with raw pika, then the workers start; the clock runs from the
first message consumed to the last row written (for the no-op: to the queue being empty).

    python -m benchmarks.intake [--single 20000] [--batched 200000] [--processes 2 --threads 48]
                                [--signed]

With --signed, every message is published signed (docs/security.md) and the workers require
signatures, as in production.
"""

from __future__ import annotations

import argparse
import json
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
from itertools import islice
from pathlib import Path
from typing import Any

import pika
import psycopg

from domain.intake import plan
from schemas import parse_event
from store.intake.queries import CATALOG
from synthetic.world import WorldConfig, generate
from workers.pools import POOLS
from workers.queues import WORKLOADS, delete_queues

ROOT = Path(__file__).resolve().parents[1]
SERVER = os.environ.get("LARDER_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
RABBITMQ = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def world_events(count: int) -> list[dict[str, Any]]:
    """The first `count` events of a seeded world big enough to hold them."""
    end = datetime(2026, 1, 19, tzinfo=UTC)  # fixed: the same events run after run
    config = WorldConfig(
        users=max(1000, count // 25), venues=max(100, count // 500), days=14, end=end
    )
    events = list(islice(generate(config), count))
    if len(events) < count:
        raise SystemExit(f"world too small: {len(events)} < {count}")
    return events


def envelope(queue: str, actor: str, body: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "queue_name": queue,
            "actor_name": actor,
            "args": [body],
            "kwargs": {},
            "options": {},
            "message_id": str(uuid.uuid4()),
            "message_timestamp": int(time.time() * 1000),
        }
    ).encode()


BENCH_KEY = ("bench-1", b"the benchmark's signing key: 32 bytes")
SIGNED = False  # --signed


def publish(queue: str, bodies: list[bytes]) -> None:
    from domain.security.signing import Keyring, sign

    ring = Keyring(dict([BENCH_KEY]), BENCH_KEY[0])
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ))
    channel = connection.channel()
    for body in bodies:
        headers = sign(ring, body, int(time.time() * 1000)) if SIGNED else None
        properties = pika.BasicProperties(delivery_mode=2, headers=headers)
        channel.basic_publish("", queue, body, properties)
    connection.close()


class Depth:
    """Ready-message count of a queue over one long-lived connection (polling must not load
    the broker it measures)."""

    def __init__(self) -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ))
        self.channel = self.connection.channel()

    def __call__(self, queue: str) -> int | None:
        try:
            frame = self.channel.queue_declare(queue, passive=True)
        except pika.exceptions.ChannelClosedByBroker:
            self.channel = self.connection.channel()
            return None
        return int(frame.method.message_count)


_depth: Depth | None = None


def queue_depth(queue: str) -> int | None:
    global _depth
    if _depth is None:
        _depth = Depth()
    return _depth(queue)


def processed(url: str) -> int:
    """Events applied: ids recorded for dedupe, plus activity events (their own dedupe record)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM processed_events)"
            " + (SELECT count(*) FROM activity_events)"
        ).fetchone()
    return int(row[0]) if row else 0


def worker_env(prefix: str, db_url: str, threads: int) -> dict[str, str]:
    """The environment of a benchmark's `dramatiq` worker: its queues, database, Prometheus."""
    prom = f"/tmp/{prefix}prom"
    Path(prom).mkdir(exist_ok=True)
    return {
        **os.environ,
        "LARDER_QUEUE_PREFIX": prefix,
        "DATABASE_URL": db_url,
        "RABBITMQ_URL": RABBITMQ,
        "LARDER_LOG_LEVEL": "WARNING",
        "LARDER_PROMETHEUS": "true",
        "LARDER_DB_POOL_SIZE": str(threads + 2),
        "dramatiq_prom_port": "0",
        "PROMETHEUS_MULTIPROC_DIR": prom,
        "dramatiq_prom_db": prom,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        **(
            {
                "LARDER_SIGNATURES": "required",
                "LARDER_SIGNING_KEYS": f"{BENCH_KEY[0]}:{BENCH_KEY[1].decode()}",
            }
            if SIGNED
            else {}
        ),
    }


@contextmanager
def workers(prefix: str, db_url: str, processes: int, threads: int) -> Iterator[None]:
    """The Procfile's worker command (dramatiq CLI, Prometheus on), until the block ends."""
    env = worker_env(prefix, db_url, threads)
    command = [
        "dramatiq",
        "workers.broker",
        "actors.intake",
        "benchmarks.noop",
        "--processes",
        str(processes),
        "--threads",
        str(threads),
    ]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, start_new_session=True, stderr=subprocess.DEVNULL
    )
    try:
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)


def declare_queues(start: Any, prefix: str) -> None:
    """Let the workers declare their queues (with Dramatiq's arguments), then stop them."""
    with start():
        while queue_depth(prefix + "events") is None or queue_depth(prefix + "noop") is None:
            time.sleep(0.2)


def drain_rate(queue: str, total: int, start: Any, done: Any = None) -> float:
    """Messages/s consumed from a prefilled queue. The clock starts when consumption starts
    (worker start-up is not counted) and stops when the queue is empty and `done()` holds;
    `done` (exact, costlier) is only polled at the end so polling does not load Postgres.
    Every message counts: the ones the workers prefetched at once (up to 2 per thread, 192
    of 200 batches with 2 x 48 threads) are processed after the clock starts too. (Counting
    only the depth left at the first poll, as this did until 2026-12-07, under-counted the
    batched runs by the prefetched share.)"""
    with start():
        while (depth := queue_depth(queue)) is None or depth >= total:
            time.sleep(0.005)
        started = time.perf_counter()
        for check in (lambda: queue_depth(queue) == 0, done or (lambda: True)):
            while not check():
                time.sleep(0.02)
        return total / (time.perf_counter() - started)


def run_single(
    prefix: str, db_url: str, events: list[dict[str, Any]], start: Any
) -> dict[str, float]:
    base = processed(db_url)
    publish(prefix + "noop", [envelope(prefix + "noop", "noop", e) for e in events])
    noop = drain_rate(prefix + "noop", len(events), start)
    publish(prefix + "events", [envelope(prefix + "events", "ingest", e) for e in events])
    ingest = drain_rate(
        prefix + "events", len(events), start, lambda: processed(db_url) >= base + len(events)
    )
    return {"noop_msgs_per_s": noop, "ingest_events_per_s": ingest}


def run_batched(
    prefix: str, db_url: str, events: list[dict[str, Any]], start: Any
) -> dict[str, float]:
    base = processed(db_url)
    bodies = [
        envelope(
            prefix + "events",
            "ingest",
            {"type": "batch", "schema_version": 1, "events": events[i : i + 1000]},
        )
        for i in range(0, len(events), 1000)
    ]
    publish(prefix + "events", bodies)
    per_message = drain_rate(
        prefix + "events", len(bodies), start, lambda: processed(db_url) >= base + len(events)
    )
    return {"ingest_events_per_s": per_message * len(events) / len(bodies)}


def copy_ceiling(db_url: str, events: list[dict[str, Any]]) -> float:
    """COPY the rows the same events produce into the same (emptied) tables: rows/s."""
    groups = plan(parse_event(e) for e in events)
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "TRUNCATE cities, brands, food_categories, venues, items, banners, users,"
            " orders, order_lines, activity_events, processed_events"
        )
        conn.commit()
        started = time.perf_counter()
        for event_type, rows in groups.items():
            for table, columns, values in copy_rows(event_type, rows):
                with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for value in values:
                        copy.write_row(value)
        conn.commit()
        return len(events) / (time.perf_counter() - started)


def copy_rows(event_type: str, rows: list[dict[str, Any]]) -> Iterator[tuple[str, list[str], Any]]:
    if event_type in CATALOG:
        spec = CATALOG[event_type]
        names = spec.names()
        yield spec.table, names, ([_cell(r[n]) for n in names] for r in rows)
    elif event_type == "order.completed":
        cols = ["order_id", "user_id", "venue_id", "city_id", "placed_at", "total"]
        yield "orders", [*cols, "source"], ([*(r[c] for c in cols), "event"] for r in rows)
        yield (
            "order_lines",
            ["order_id", "line_no", "item_id", "quantity"],
            (
                [r["order_id"], ln["line_no"], ln["item_id"], ln["quantity"]]
                for r in rows
                for ln in r["lines"]
            ),
        )
    else:
        cols = [c for c in rows[0] if c != "schema_version"]
        yield "activity_events", cols, ([r[c] for c in cols] for r in rows)


def _cell(value: Any) -> Any:
    return (
        json.dumps(value)
        if isinstance(value, list) and value and isinstance(value[0], dict)
        else value
    )


def fresh_database() -> str:
    from store import migrate
    from store.db import make_engine
    from store.server import drop_database, ensure_database

    url = SERVER.rsplit("/", 1)[0] + f"/larder_bench_{uuid.uuid4().hex[:6]}"
    drop_database(url)
    ensure_database(url)
    migrate.upgrade(make_engine(url, 1))
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--single", type=int, default=20_000)
    parser.add_argument("--batched", type=int, default=200_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=POOLS["intake"].threads)
    parser.add_argument("--signed", action="store_true", help="sign; workers require it")
    args = parser.parse_args()
    global SIGNED
    SIGNED = args.signed
    events = world_events(args.single + args.batched)
    single, batched = events[: args.single], events[args.single :]
    db_url = fresh_database()
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    from store.server import drop_database

    def start() -> Any:
        return workers(prefix, db_url, args.processes, args.threads)

    try:
        declare_queues(start, prefix)
        results = {
            "single": run_single(prefix, db_url, single, start),
            "batched": run_batched(prefix, db_url, batched, start),
        }
        results["batched"]["copy_rows_per_s"] = copy_ceiling(db_url, batched)
    finally:
        drop_database(db_url)
        delete_queues(RABBITMQ, prefix, (*WORKLOADS, "noop"))
    report(results, args)


def report(results: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    single, batched = results["single"], results["batched"]
    print(
        f"machine: {platform.node()} {os.cpu_count()} cores, Python {platform.python_version()};"
        f" workers {args.processes} processes x {args.threads} threads"
        f"{'; signed messages, signatures required' if args.signed else ''}"
    )
    print(
        f"single-event messages ({args.single:,}): {single['ingest_events_per_s']:,.0f} events/s"
        f"  | no-op actor {single['noop_msgs_per_s']:,.0f} msg/s"
        f"  | ratio {single['ingest_events_per_s'] / single['noop_msgs_per_s']:.2f}"
    )
    print(
        f"1,000-event batches ({args.batched:,}): {batched['ingest_events_per_s']:,.0f} events/s"
        f"  | plain COPY {batched['copy_rows_per_s']:,.0f} events/s"
        f"  | ratio {batched['ingest_events_per_s'] / batched['copy_rows_per_s']:.2f}"
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
