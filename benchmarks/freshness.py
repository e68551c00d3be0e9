"""Event -> fresh lists: how long after an order is published the user's lists reflect it, under
a steady event load, with the Procfile's processes (worker on `events` + `recs`, scheduler).

Needs a database with a loaded world, a trained model and refreshed lists: by default it builds
one (`benchmarks.refresh` at --users, then kept); or pass `--db URL` of one kept with
`python -m benchmarks.refresh --keep`.

Load: `--orders` order events/s (each a new order of a random user, placed now) plus
`--activity` venue-activity events/s (each also marks its user changed) plus `--banner-clicks`
banner clicks/s, for `--seconds`. Latency of an order: from its publish to the `computed_at` of
the user's discovery list whose `inputs_at` is the order's `placed_at` (both clocks are this
machine's). Latency of a banner click: from its publish to the first re-rank of the user's
banners after it (by design a minute later: a session's clicks coalesce into one re-rank).
Baseline in the same run: the intake alone, publish -> the order row committed
(`orders.loaded_at`); a click's statistics are updated in that same intake statement.

    python -m benchmarks.freshness [--db URL] [--orders 20] [--activity 100] [--banner-clicks 5]
                                   [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pika
import psycopg

from benchmarks.intake import RABBITMQ, envelope
from workers.queues import delete_queues

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def fleet(prefix: str, db_url: str, sweep_every: float) -> Iterator[None]:
    """The Procfile's processes, with the `recs` queue in its own pool (`WORKER_QUEUES`, see the
    README): list refreshes are CPU-bound and would otherwise take the intake's GIL."""
    env = {
        **os.environ,
        "LARDER_QUEUE_PREFIX": prefix,
        "DATABASE_URL": db_url,
        "RABBITMQ_URL": RABBITMQ,
        "LARDER_LOG_LEVEL": "WARNING",
        "OPENBLAS_NUM_THREADS": "1",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    modules = ["dramatiq", "workers.broker", "actors.intake", "actors.recs"]
    intake = [*modules, "--queues", prefix + "events", "--processes", "1", "--threads", "16"]
    lists = [*modules, "--queues", prefix + "recs", "--processes", "2", "--threads", "2"]
    scheduler = ["larder", "scheduler", "--every", f"recs.sweep_changed_users={sweep_every}"]
    procs = [
        subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
        for cmd in (intake, lists, scheduler)
    ]
    try:
        time.sleep(8)  # start-up: processes boot, load the model and the catalog
        yield
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=120)


def sample(db_url: str) -> tuple[list[tuple[int, int]], dict[int, list[tuple[int, int]]]]:
    """Users with their city, and per city a few (venue, item) pairs that deliver."""
    with psycopg.connect(db_url) as conn:
        users = conn.execute("SELECT user_id, city_id FROM users").fetchall()
        menu = conn.execute(
            "SELECT v.city_id, v.venue_id, min(i.item_id) FROM venues v"
            " JOIN items i USING (venue_id) WHERE v.active GROUP BY v.city_id, v.venue_id"
        ).fetchall()
    by_city: dict[int, list[tuple[int, int]]] = {}
    for city, venue, item in menu:
        by_city.setdefault(city, []).append((venue, item))
    return users, by_city


def banner_ids(db_url: str) -> list[int]:
    with psycopg.connect(db_url) as conn:
        return [row[0] for row in conn.execute("SELECT banner_id FROM banners ORDER BY 1")]


def order_event(user: int, city: int, venue: int, item: int, placed: datetime) -> dict[str, Any]:
    tag = uuid.uuid4().hex
    return {
        "type": "order.completed",
        "schema_version": 1,
        "event_id": f"fresh-{tag}",
        "order_id": f"F-{tag}",
        "user_id": user,
        "venue_id": venue,
        "city_id": city,
        "placed_at": placed.isoformat(),
        "total": 1000,
        "lines": [{"item_id": item, "quantity": 1, "line_no": 1}],
    }


def activity_event(user: int, venue: int) -> dict[str, Any]:
    return {
        "type": "activity",
        "schema_version": 1,
        "event_id": f"fresh-act-{uuid.uuid4().hex}",
        "kind": "click",
        "surface": "discovery",
        "user_id": user,
        "venue_id": venue,
        "occurred_at": datetime.now(UTC).isoformat(),
    }


def banner_click(user: int, banner: int) -> dict[str, Any]:
    return {
        "type": "activity",
        "schema_version": 1,
        "event_id": f"fresh-banner-{uuid.uuid4().hex}",
        "kind": "click",
        "surface": "banner",
        "user_id": user,
        "banner_id": banner,
        "position": 0,
        "occurred_at": datetime.now(UTC).isoformat(),
    }


Sent = dict[str, tuple[float, datetime, int]]
REJECTED = "SELECT count(*) FROM rejected_messages WHERE rejected_at > now() - interval '1 hour'"


def load(args: argparse.Namespace, prefix: str, db_url: str, sent: Sent, clicks: Sent) -> None:
    """Publish the steady load, recording order id -> (publish wall time, placed_at, user) and
    banner click id -> (publish wall time, its occurred_at, user)."""
    users, menu = sample(db_url)
    banners = banner_ids(db_url)
    rng = random.Random(7)
    channel = pika.BlockingConnection(pika.URLParameters(RABBITMQ)).channel()
    queue = prefix + "events"
    rates = (args.orders, args.activity, args.banner_clicks if banners else 0.0)
    tick = 1.0 / sum(rates)
    next_at = time.monotonic()
    end = next_at + args.seconds
    while next_at < end:
        time.sleep(max(0.0, next_at - time.monotonic()))
        user, city = rng.choice(users)
        venue, item = rng.choice(menu[city])
        draw = rng.random() * sum(rates)
        if draw < rates[0]:
            placed = datetime.now(UTC)
            event = order_event(user, city, venue, item, placed)
            sent[event["order_id"]] = (time.time(), placed, user)
        elif draw < rates[0] + rates[1]:
            event = activity_event(user, venue)
        else:
            event = banner_click(user, rng.choice(banners))
            clicks[event["event_id"]] = (time.time(), datetime.now(UTC), user)
        channel.basic_publish("", queue, envelope(queue, "ingest", event))
        next_at += tick


class Watcher(threading.Thread):
    """Polls the pending orders' users every 50 ms and keeps, per order, the `computed_at` of the
    first discovery list that reflects it (a later refresh of the same user must not count)."""

    def __init__(self, db_url: str, sent: Sent, clicks: Sent) -> None:
        super().__init__(daemon=True)
        self.db_url, self.sent, self.clicks = db_url, sent, clicks
        self.fresh: dict[str, float] = {}
        self.reranked: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            while not self.stop.is_set():
                self.poll(conn)
                time.sleep(0.05)
            self.poll(conn)

    def poll(self, conn: psycopg.Connection[Any]) -> None:
        self.poll_orders(conn)
        self.poll_clicks(conn)

    def poll_clicks(self, conn: psycopg.Connection[Any]) -> None:
        """A click's user re-ranked: their banners computed after the click was published."""
        pending = {c: v for c, v in list(self.clicks.items()) if c not in self.reranked}
        if not pending:
            return
        rows = conn.execute(
            "SELECT user_id, extract(epoch FROM computed_at) FROM recommendations"
            " WHERE surface = 'banners' AND user_id = ANY(%s)",
            ([user for _, _, user in pending.values()],),
        ).fetchall()
        computed = {user: float(at) for user, at in rows}
        for click, (published, _, user) in pending.items():
            if computed.get(user, 0.0) > published:
                self.reranked[click] = computed[user]

    def poll_orders(self, conn: psycopg.Connection[Any]) -> None:
        pending = {o: v for o, v in list(self.sent.items()) if o not in self.fresh}
        if not pending:
            return
        rows = conn.execute(
            "SELECT user_id, inputs_at, extract(epoch FROM computed_at) FROM recommendations"
            " WHERE surface = 'discovery' AND user_id = ANY(%s)",
            ([user for _, _, user in pending.values()],),
        ).fetchall()
        newest = {user: (inputs, float(at)) for user, inputs, at in rows}
        for order_id, (_, placed, user) in pending.items():
            found = newest.get(user)
            if found and found[0] >= placed:
                self.fresh[order_id] = found[1]


def latencies(
    db_url: str, sent: dict[str, tuple[float, datetime, int]], fresh_at: dict[str, float]
) -> dict[str, list[Any]]:
    """Seconds from publish to the order row (intake) and to the user's fresh list."""
    with psycopg.connect(db_url) as conn:
        landed: dict[str, Any] = dict(
            conn.execute(
                "SELECT order_id, extract(epoch FROM loaded_at) FROM orders"
                " WHERE order_id = ANY(%s)",
                (list(sent),),
            ).fetchall()
        )
    first = min(published for published, _, _ in sent.values())
    intake = [float(landed[o]) - p for o, (p, _, _) in sent.items() if o in landed]
    fresh = [(fresh_at[o] - p, p - first) for o, (p, _, _) in sent.items() if o in fresh_at]
    slow = sorted(fresh, reverse=True)[:5]
    return {
        "intake": intake,
        "fresh": [lag for lag, _ in fresh],
        "missing": [float(len(sent) - len(fresh))],
        "slowest": [f"{lag:.1f} s at +{offset:.1f} s" for lag, offset in slow],
    }


def warm_up(args: argparse.Namespace, prefix: str, db_url: str) -> None:
    """Ten seconds of the same load, not measured: every worker process loads the model and
    the catalog on its first job (a steady state is what is measured)."""
    load(argparse.Namespace(**{**vars(args), "seconds": 10.0}), prefix, db_url, {}, {})
    time.sleep(3)


def wait_settled(db_url: str, seconds: float) -> None:
    time.sleep(seconds)  # the last orders' lists: a sweep period plus a refresh


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="A database kept by `benchmarks.refresh --keep`.")
    parser.add_argument("--users", type=int, default=20_000, help="World size when building.")
    parser.add_argument("--orders", type=float, default=20.0)
    parser.add_argument("--activity", type=float, default=100.0)
    parser.add_argument("--banner-clicks", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--sweep-every", type=float, default=0.5)
    args = parser.parse_args()
    db_url = args.db or build(args.users)
    prefix = f"fresh{uuid.uuid4().hex[:6]}."
    with psycopg.connect(db_url) as conn:  # a steady state: no backlog left by an earlier run
        conn.execute("TRUNCATE user_changes")
    sent: Sent = {}
    clicks: Sent = {}
    watcher = Watcher(db_url, sent, clicks)
    with fleet(prefix, db_url, args.sweep_every):
        warm_up(args, prefix, db_url)
        watcher.start()
        started = time.perf_counter()
        load(args, prefix, db_url, sent, clicks)
        rate = len(sent) / (time.perf_counter() - started)
        wait_settled(db_url, 75.0 if clicks else 10.0)  # a click's re-rank waits a minute
        watcher.stop.set()
        watcher.join()
    found = latencies(db_url, sent, watcher.fresh)
    found["banners"] = [watcher.reranked[c] - clicks[c][0] for c in clicks if c in watcher.reranked]
    found["banners_missing"] = [float(len(clicks) - len(found["banners"]))]
    with psycopg.connect(db_url) as conn:  # a refused event measures nothing: say so
        found["rejected"] = [float(conn.execute(REJECTED).fetchone()[0])]  # type: ignore[index]
    delete_queues(RABBITMQ, prefix)
    report(args, rate, found)


def build(users: int) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.refresh", "--users", str(users), "--keep"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.rsplit("database kept: ", 1)[1].split()[0]


def report(args: argparse.Namespace, rate: float, found: dict[str, list[Any]]) -> None:
    print(
        f"load: {args.orders:g} orders/s + {args.activity:g} activity events/s +"
        f" {args.banner_clicks:g} banner clicks/s for {args.seconds:g} s ({rate:.1f} orders/s"
        f" published); sweep every {args.sweep_every} s"
    )
    print("| publish -> | p50 | p95 | p99 | n |")
    print("|---|---|---|---|---|")
    for name, label in (
        ("intake", "order row committed"),
        ("fresh", "user's lists fresh"),
        ("banners", "banner click: user's banners re-ranked"),
    ):
        values = found[name]
        print(
            f"| {label} | {percentile(values, 0.5):.2f} s | {percentile(values, 0.95):.2f} s |"
            f" {percentile(values, 0.99):.2f} s | {len(values)} |"
        )
    print(f"orders whose lists never refreshed: {int(found['missing'][0])}")
    print(f"banner clicks whose user was never re-ranked: {int(found['banners_missing'][0])}")
    print(f"dead-lettered during the run: {int(found['rejected'][0])}")
    print(f"slowest (lag, published at): {', '.join(found['slowest'])}")


if __name__ == "__main__":
    threading.excepthook = lambda hook: None  # pika's I/O thread noise at exit
    main()
