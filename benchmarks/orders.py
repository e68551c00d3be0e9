"""Order-problem checks on the real RabbitMQ and Postgres: lifecycle events through the
`order_checks` actor while 100,000 live orders hold timers, and what a timer sweep costs.

1. **Live orders**: `--live` healthy orders in flight (created, paid, accepted, a courier
   assigned; 60% on the ride with 0-60 location samples in their state, i.e. states of
   1-9 kB, the rest about to be picked up) are loaded straight into `order_states`, each
   holding a timer (`next_due_at`).
2. **Throughput**: the next `--per-order` events of every live order (location samples on
   the ride; arrival and ready before it), 33 s apart as at 3,000 events/s over 100,000
   orders, in time order: every 1,000-event message touches ~1,000 different orders (each
   event reads, folds, judges and writes a state: the realistic, costly case). The orders
   live an hour ahead of the real clock the workers judge by, so timers are set and none
   comes due during the run (`larder simulate` measures detection). The queue is prefilled,
   then the workers start (the Procfile's command, `dramatiq workers.broker actors.order_checks`,
   2 processes x 48 threads by default, the intake pool's) and the clock runs from the first message consumed
   to the last event recorded. Twice, from the same freshly written, vacuumed tables:
   batched as `larder intake publish` batches (16 streams split by order: concurrent messages never
   wait for each other's order locks), and 1,000 at a time in delivery order.
   **Ceiling** in the same run: a no-op Dramatiq actor fed the same messages. Then the first
   `--single` events again, one event per message (a producer that does not batch: the
   consumer merges the deliveries waiting in its prefetch into batches, `workers/coalesce.py`,
   and small ones share commits across threads, `actors.order_checks.apply_together`), beside
   the no-op actor fed those same single-event messages (which do not merge).
3. **Sweeps**: with every live order holding a future timer, one `sweep_orders` transaction
   with 0 timers due, then with N due (N = 100, 1,000, 10,000, made due by moving their
   `next_due_at` into the past); median of `--repeats` runs each.

    python -m benchmarks.orders [--live 100000] [--per-order 2] [--single 20000]
                                [--processes 2 --threads 48]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.intake import (
    RABBITMQ,
    envelope,
    fresh_database,
    publish,
    queue_depth,
    worker_env,
)
from domain.order_checks.projection import Fact, OrderState, Sample, fold
from domain.order_checks.rules import RulesConfig, evaluate, next_check
from schemas.order_checks import parse_lifecycle
from store.order_checks import encode_state, sweep_orders
from workers.pools import POOLS
from workers.publishing import batches
from workers.queues import WORKLOADS, delete_queues

ROOT = Path(__file__).resolve().parents[1]
BATCH = 1000


# ---------------------------------------------------------------- live orders and their events

RIDE_SAMPLE = timedelta(seconds=15)


def live_order(n: int, now: datetime, rng: random.Random) -> OrderState:
    """An order in flight at `now`: created, paid, accepted, a courier assigned; 60% are on
    the ride with up to 60 location samples (15 minutes' worth), the rest are about to be
    picked up. Healthy: its next events (`next_events` at `now`) keep it on time."""
    order_id, riding = f"live-{n:07d}", n % 10 < 6
    samples = rng.randrange(61) if riding else 0
    begin = now - timedelta(minutes=(19 + samples / 4) if riding else 15)
    at = [(begin + timedelta(minutes=m)).isoformat() for m in (0, 0.5, 1.5, 6, 16.5)]
    base = {"schema_version": 1, "order_id": order_id}
    raws: list[dict[str, Any]] = [
        {
            "type": "order.created",
            "user_id": 1 + n,
            "venue_id": 1 + n % 5000,
            "city_id": 1 + n % 3,
            "items": [{"item_id": 1 + n % 977, "quantity": 1}],
            "total": 2500,
            "payment_method": "card",
            "promised_delivery_at": (begin + timedelta(minutes=45)).isoformat(),
        },
        {"type": "payment.authorized"},
        {"type": "venue.accepted", "estimated_ready_at": at[4]},
        {"type": "courier.assigned", "courier_id": 1 + n},
    ]
    state = fold(
        parse_lifecycle(
            {**base, **r, "event_id": f"{order_id}:{s}", "occurred_at": at[s - 1], "sequence": s}
        )
        for s, r in enumerate(raws, start=1)
    )
    if not riding:
        return state
    picked = begin + timedelta(minutes=19)
    track = []
    for k in range(samples):
        sequence = 6 + k
        fact = Fact(picked + k * RIDE_SAMPLE, sequence, f"{order_id}:{sequence}")
        track.append(Sample(fact, 60.17 + k * 0.0005, 24.94, 1 + n))
    return replace(
        state,
        picked_up=Fact(picked, 5, f"{order_id}:5"),
        track=tuple(track),
        last_sequence=5 + len(track),
    )


STREAM_GAP = timedelta(seconds=33)  # each live order's events, as at 3,000 events/s


def next_events(state: OrderState, count: int, at: datetime) -> list[dict[str, Any]]:
    """The order's next `count` events from `at` on, STREAM_GAP apart: location samples on the
    ride, else arrival and ready."""
    order_id, sequence = state.order_id, state.last_sequence
    last_lat = state.track[-1].lat if state.track else 60.17
    events = []
    for k in range(1, count + 1):
        if state.picked_up is not None:
            body: dict[str, Any] = {
                "type": "courier.location",
                "lat": last_lat + k * 0.001,
                "lon": 24.94,
            }
        else:
            body = {"type": ("courier.arrived_at_venue", "order.ready")[(k - 1) % 2]}
        events.append(
            {
                **body,
                "schema_version": 1,
                "event_id": f"{order_id}:n{sequence + k}",
                "order_id": order_id,
                "occurred_at": (at + (k - 1) * STREAM_GAP).isoformat(),
                "sequence": sequence + k,
            }
        )
    return events


def load_live_orders(
    db_url: str, count: int, start: datetime, per_order: int
) -> tuple[float, list[dict[str, Any]]]:
    """COPY `count` live orders with their timers; returns the seconds taken and the stream of
    their next events (`per_order` each), in time order."""
    config, rng, began = RulesConfig(), random.Random(7), time.perf_counter()
    stream: list[dict[str, Any]] = []
    with psycopg.connect(db_url) as conn, conn.cursor() as cursor:
        columns = "order_id, state, last_sequence, venue_id, city_id, known, next_due_at"
        with cursor.copy(f"COPY order_states ({columns}) FROM STDIN") as copy:
            for n in range(count):
                state = live_order(n, start, rng)
                due = next_check(evaluate(state, start, config))
                row = (state.order_id, encode_state(state), state.last_sequence)
                copy.write_row((*row, state.venue_id, state.city_id, True, due))
                at = start + timedelta(seconds=rng.uniform(0, 33))
                stream += next_events(state, per_order, at)
        conn.commit()
    _settle(db_url)
    stream.sort(key=lambda e: e["occurred_at"])
    return time.perf_counter() - began, stream


@contextmanager
def workers(prefix: str, db_url: str, processes: int, threads: int) -> Iterator[None]:
    """The Procfile's worker command with the order-checks actor (and the no-op ceiling)."""
    env = worker_env(prefix, db_url, threads)
    command = ["dramatiq", "workers.broker", "actors.order_checks", "benchmarks.noop"]
    command += ["--processes", str(processes), "--threads", str(threads)]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, start_new_session=True, stderr=subprocess.DEVNULL
    )
    try:
        yield
    finally:
        WORKER_CPU_S.append(session_cpu_s(proc.pid))
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)


WORKER_CPU_S: list[float] = []  # CPU seconds of each worker run, read before it stops


def session_cpu_s(session: int) -> float:
    """User + system CPU seconds of every live process of a session (Linux /proc)."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == session:  # field 6 of stat: the session id
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def recorded(db_url: str) -> int:
    """Stream events recorded (the live orders were loaded without idempotency records)."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM processed_events").fetchone()
    return int(row[0]) if row else 0


def drain(queue: str, messages: int, start: Any, done: Any = None) -> float:
    """Seconds from the first message consumed until the queue is empty and `done()` holds."""
    with start():
        while (depth := queue_depth(queue)) is None or depth >= messages:
            time.sleep(0.005)
        began = time.perf_counter()
        while queue_depth(queue) != 0:
            time.sleep(0.02)
        while done is not None and not done():
            time.sleep(0.05)
        return time.perf_counter() - began


def bodies(events: list[dict[str, Any]], partitioned: bool) -> list[dict[str, Any]]:
    """Message bodies of at most 1,000 events: as `larder intake publish` sends them (split by order
    into streams), or in plain delivery order (every batch touches ~1,000 orders)."""
    if partitioned:
        return [message.args[0] for message in batches(events)]
    return [
        {"type": "batch", "schema_version": 1, "events": events[i : i + BATCH]}
        for i in range(0, len(events), BATCH)
    ]


def throughput(
    prefix: str, db_url: str, events: list[dict[str, Any]], start: Any, single: int
) -> dict[str, Any]:
    """events/s through the checks, both ways of batching and (the first `single` events) one
    event per message, from the same starting states; and the no-op ceiling."""
    results: dict[str, Any] = {"events": len(events)}
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_saved AS SELECT * FROM order_states")
    for label in ("partitioned", "delivery_order", "single"):
        partitioned = label == "partitioned"
        if label == "single":
            messages, events = events[:single], events[:single]
            if not messages:
                continue
        else:
            messages = bodies(events, partitioned)
        if partitioned or label == "single":  # the ceiling for the same messages
            queue = prefix + "noop"
            publish(queue, [envelope(queue, "noop", b) for b in messages])
            key = "noop_events_per_s" if partitioned else "noop_single_events_per_s"
            results[key] = len(events) / drain(queue, len(messages), start)
        _restore(db_url)  # every run starts from the same tables, written the same way
        queue = prefix + "order_checks"
        publish(queue, [envelope(queue, "check_order_events", b) for b in messages])
        total = len(events)
        seconds = drain(queue, len(messages), start, lambda n=total: recorded(db_url) >= n)
        results[label] = {
            "messages": len(messages),
            "orders_per_message": statistics.median(_orders(b) for b in messages),
            "events_per_s": len(events) / seconds,
            "worker_cpu_us_per_event": WORKER_CPU_S[-1] / len(events) * 1e6,
        }
        print(label, results[label], file=sys.stderr)
    return results


def _restore(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE order_states, processed_events, order_problems, problem_history,"
            " venue_outcomes, venue_changes, venue_checks"
        )
        conn.execute("INSERT INTO order_states SELECT * FROM bench_saved")
    _settle(db_url)


def _settle(db_url: str) -> None:
    """Vacuum and checkpoint now, so that neither runs during a measurement (autovacuum of
    the freshly loaded table would: it costs 30-50% of throughput on two cores)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE order_states")
        conn.execute("CHECKPOINT")


def _orders(body: dict[str, Any]) -> int:
    return len({e["order_id"] for e in body.get("events", [body])})


# ---------------------------------------------------------------- sweeps


def sweep_costs(db_url: str, sizes: list[int], repeats: int) -> dict[str, Any]:
    """Milliseconds of one sweep transaction with 0 and N due timers among the live orders."""
    config = RulesConfig()
    results: dict[str, Any] = {}
    with psycopg.connect(db_url, autocommit=True) as conn:
        holding = conn.execute(
            "SELECT count(*) FROM order_states WHERE next_due_at IS NOT NULL"
        ).fetchone()
        results["live_with_timers"] = int(holding[0]) if holding else 0
        now = datetime.now(UTC)
        plan = conn.execute(
            "EXPLAIN SELECT order_id FROM order_states WHERE next_due_at <= %s"
            " ORDER BY next_due_at LIMIT 1000 FOR UPDATE SKIP LOCKED",
            (now,),
        ).fetchall()
        results["plan"] = next(str(row[0]).strip() for row in plan if "Scan" in str(row[0]))
        for due in [0, *sizes]:
            timings = []
            for _ in range(repeats):
                if due:
                    conn.execute(
                        "UPDATE order_states SET next_due_at = %s WHERE order_id IN ("
                        " SELECT order_id FROM order_states WHERE order_id LIKE 'live-%%'"
                        " ORDER BY random() LIMIT %s)",
                        (now - timedelta(seconds=1), due),
                    )
                began = time.perf_counter()
                with conn.transaction():
                    report = sweep_orders(conn, (now, now), config, max(due, 1))
                timings.append((time.perf_counter() - began) * 1000)
                assert report.orders == due, (report.orders, due)
            results[str(due)] = statistics.median(timings)
    return results


# ---------------------------------------------------------------- judging through (CPU)


def judging_costs(orders: int = 1000, repeats: int = 3) -> dict[str, float]:
    """Microseconds of CPU per order judgement, pure (no I/O), on the simulator's orders judged
    at creation + 30 min: `check_order` at the present with what is known by then (as before
    judging through existed); `check_order_through` the same way, judged last 20 s before
    (a worker keeping up); and behind a backlog, with every later event of the order known,
    judged last 30 s, 10 min and never before. What being exact behind a backlog costs.
    Best of `repeats`."""
    from domain.order_checks.checks import check_order, check_order_through
    from domain.order_checks.projection import apply, as_of
    from synthetic.order_checks import SimulationConfig, simulate

    start = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
    states: dict[str, OrderState] = {}
    for delivery in simulate(SimulationConfig(orders=orders, seed=3), start).deliveries:
        event = parse_lifecycle(delivery.event)
        states[event.order_id] = apply(states.get(event.order_id), event)
    config = RulesConfig()
    cases = []  # (everything known, what is known by the instant, the instant)
    for state in states.values():
        assert state.placed is not None
        instant = state.placed.fact.at + timedelta(minutes=30)
        cases.append((state, as_of(state, instant), instant))

    def best(judge: Any) -> float:
        runs = []
        for _ in range(repeats):
            began = time.process_time()
            for case in cases:
                judge(*case)
            runs.append((time.process_time() - began) / len(cases) * 1e6)
        return min(runs)

    later = timedelta(hours=1)
    return {
        "check_order_at_present": best(lambda _, k, t: check_order(k, {}, set(), t, config)),
        "through_at_present_20s": best(
            lambda _, k, t: check_order_through(
                k, {}, set(), t - timedelta(seconds=20), t, config, t
            )
        ),
        **{
            f"through_behind_{label}": best(
                lambda s, _, t, b=behind: check_order_through(
                    s, {}, set(), None if b is None else t - b, t, config, t + later
                )
            )
            for label, behind in (
                ("30s", timedelta(seconds=30)),
                ("10min", timedelta(minutes=10)),
                ("from_start", None),
            )
        },
    }


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--live", type=int, default=100_000)
    parser.add_argument("--per-order", type=int, default=2, help="events streamed per order")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=POOLS["intake"].threads)
    parser.add_argument("--sweeps", default="100,1000,10000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--single", type=int, default=20_000, help="single-event messages")
    args = parser.parse_args()
    from store.server import drop_database

    db_url = fresh_database()
    prefix = f"bench{uuid.uuid4().hex[:6]}."

    def start() -> Any:
        return workers(prefix, db_url, args.processes, args.threads)

    try:
        later = datetime.now(UTC) + timedelta(hours=1)
        load_s, events = load_live_orders(db_url, args.live, later, args.per_order)
        results: dict[str, Any] = {"load_s": load_s}
        with start():  # declare the queues
            while None in (queue_depth(prefix + "order_checks"), queue_depth(prefix + "noop")):
                time.sleep(0.2)
        results["judging_us"] = judging_costs()
        results["throughput"] = throughput(prefix, db_url, events, start, args.single)
        sizes = [int(s) for s in args.sweeps.split(",") if s]
        results["sweeps"] = sweep_costs(db_url, sizes, args.repeats)
    finally:
        drop_database(db_url)
        delete_queues(RABBITMQ, prefix, (*WORKLOADS, "noop"))
    report(results, args)


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    t, s = results["throughput"], results["sweeps"]
    print(
        f"machine: {platform.node()} {os.cpu_count()} cores, Python {platform.python_version()};"
        f" workers {args.processes} processes x {args.threads} threads;"
        f" {args.live:,} live orders loaded in {results['load_s']:.0f} s"
    )
    print()
    print(
        f"| {t['events']:,} lifecycle events, {args.per_order} for each live order | messages"
        " | orders per message (median) | events/s | ceiling: no-op actor |"
    )
    print("|---|---|---|---|---|")
    for label, title in (
        ("partitioned", "as `larder intake publish` batches them (16 streams by order)"),
        ("delivery_order", "1,000 in delivery order (worst case)"),
        ("single", f"one event per message (the first {args.single:,})"),
    ):
        if label not in t:
            continue
        row = t[label]
        ceiling = t["noop_single_events_per_s" if label == "single" else "noop_events_per_s"]
        print(
            f"| {title} | {row['messages']:,} | {row['orders_per_message']:.0f}"
            f" | **{row['events_per_s']:,.0f}** | {ceiling:,.0f} |"
        )
    print()
    print(
        f"| timers due (of {s['live_with_timers']:,} live orders holding one)"
        " | one sweep, ms | ms per due order |"
    )
    print("|---|---|---|")
    for key, value in s.items():
        if key.isdigit():
            per = f"{value / int(key):.3f}" if int(key) else "-"
            print(f"| {int(key):,} | {value:.1f} | {per} |")
    print(f"\nclaim query plan: {s['plan']}")
    judging = results["judging_us"]
    print("\n| one order's judgement (pure CPU, simulator orders) | us |")
    print("|---|---|")
    for key, value in judging.items():
        print(f"| {key} | {value:.0f} |")
    print(json.dumps(results, default=str))


if __name__ == "__main__":
    main()
