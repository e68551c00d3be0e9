"""Read latency of precomputed lists, each beside a baseline measured in the same run:

  store.recs.read (Python, one connection)   vs  a bare prepared primary-key SELECT of the table
  GET /v1/users/{id}/recommendations/...     vs  GET /healthz, both open loop at the same rate,
                                                 in alternating 2-s slices

A throwaway database (created, migrated, dropped at the end) holds 100k users x (1 discovery list
of 100 venues + 5 items lists of 50 items), a catalog of 3,000 venues in 3 cities (some closed
now, 2 % inactive) and 150,000 items (3 % unavailable), their fallbacks and cart complements,
loaded with COPY. `larder serve` runs as a subprocess, as the Procfile runs it. Before each
measured phase the lists are brought into memory (`warm`).

    python -m benchmarks.reads [--users 100000] [--reads 20000] [--rate 500] [--seconds 20]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import signal
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from benchmarks import load
from store import recs

ROOT = Path(__file__).resolve().parents[1]
SERVER = os.environ.get("LARDER_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")

CITIES = {1: "Europe/Helsinki", 2: "Europe/Berlin", 3: "Asia/Tokyo"}
VENUES_PER_CITY = 1000
ITEMS_PER_VENUE = 50
DISCOVERY_SIZE = 100
ITEMS_LISTS_PER_USER = 5
COMPLEMENTS_PER_ITEM = 10
VERSION = "bench-1"

BARE_SELECT = """
    SELECT ids, scores, model_version, computed_at FROM recommendations
    WHERE user_id = %s AND surface = %s AND %s::bigint IS NOT NULL
"""  # the whole packed row of the user's surface: more bytes than the one list a read slices


# --- the world -----------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """Who has which lists: user u lives in city `city[u]` and has items lists for the venues
    `venues[u]` (plus one discovery list)."""

    city: np.ndarray  # indexed by user id
    venues: np.ndarray  # users x ITEMS_LISTS_PER_USER venue ids

    @property
    def users(self) -> int:
        return len(self.city) - 1

    def keys(self, count: int, seed: int) -> list[tuple[int, str, int]]:
        """Random (user, surface, context) of stored lists: 1 in 6 discovery, like the rows."""
        draws = random.Random(seed)
        keys = []
        for _ in range(count):
            user = draws.randint(1, self.users)
            slot = draws.randrange(ITEMS_LISTS_PER_USER + 1)
            if slot == ITEMS_LISTS_PER_USER:
                keys.append((user, "discovery", 0))
            else:
                keys.append((user, "items", int(self.venues[user, slot])))
        return keys

    def carts(self, count: int, seed: int) -> list[tuple[int, list[int]]]:
        """Random carts of 1-3 items at one of the user's venues."""
        draws = random.Random(seed)
        carts = []
        for _ in range(count):
            user = draws.randint(1, self.users)
            venue = int(self.venues[user, draws.randrange(ITEMS_LISTS_PER_USER)])
            carts.append((user, draws.sample(items_of(venue), draws.randint(1, 3))))
        return carts


def venues_of(city: int) -> range:
    return range(city * 10_000 + 1, city * 10_000 + VENUES_PER_CITY + 1)


def items_of(venue: int) -> list[int]:
    return [venue * 100 + k for k in range(ITEMS_PER_VENUE)]


def hours_of(venue: int) -> str:
    """70 % 10:00-22:00, 20 % late nights 17:00-02:00, 10 % no hours (always open)."""
    style = venue % 10
    if style == 9:
        return "[]"
    opens, closes = ("17:00", "02:00") if style >= 7 else ("10:00", "22:00")
    return json.dumps([{"weekday": d, "opens": opens, "closes": closes} for d in range(7)])


def array(values: Sequence[int] | Sequence[float]) -> str:
    return "{" + ",".join(map(str, values)) + "}"


def descending(n: int) -> str:
    return array([round(1.0 - i / n, 4) for i in range(n)])


def fill(url: str, users: int, seed: int = 7) -> World:
    """COPY the catalog, users, lists, fallbacks and complements; then VACUUM ANALYZE."""
    draws = np.random.default_rng(seed)
    city = draws.integers(1, len(CITIES) + 1, users + 1)
    venue_index = np.array(
        [draws.choice(VENUES_PER_CITY, ITEMS_LISTS_PER_USER, replace=False) for _ in city]
    )
    venues = np.array([venues_of(int(c))[0] for c in city])[:, None] + venue_index
    world = World(city, venues)
    with psycopg.connect(url, autocommit=True) as conn:
        _copy(conn, "cities (city_id, name, lat, lon, timezone, version)", _cities())
        _copy(
            conn,
            "venues (venue_id, city_id, name, lat, lon, delivery_radius_m, cuisines,"
            " category_ids, price_level, opening_hours, active, version)",
            _venues(),
        )
        _copy(conn, "items (item_id, venue_id, name, price, available, version)", _items())
        _copy(conn, "users (user_id, city_id, home_lat, home_lon, version)", _users(world))
        _copy(
            conn,
            "recommendations (user_id, surface, contexts, bounds, ids, scores, model_version,"
            " inputs_at)",
            _lists(world, draws),
        )
        _copy(
            conn,
            "fallback_recommendations (city_id, surface, context, ids, scores, model_version)",
            _fallbacks(draws),
        )
        conn.execute("VACUUM ANALYZE")
    return world


def _copy(conn: psycopg.Connection[Any], target: str, lines: Iterator[str]) -> None:
    with conn.cursor().copy(f"COPY {target} FROM STDIN") as copy:
        chunk: list[str] = []
        for line in lines:
            chunk.append(line)
            if len(chunk) == 10_000:
                copy.write("".join(chunk))
                chunk = []
        copy.write("".join(chunk))


def _cities() -> Iterator[str]:
    for city, zone in CITIES.items():
        yield f"{city}\tCity {city}\t60\t25\t{zone}\t1\n"


def _venues() -> Iterator[str]:
    for city in CITIES:
        for venue in venues_of(city):
            active = "f" if venue % 50 == 0 else "t"
            yield (
                f"{venue}\t{city}\tVenue {venue}\t60\t25\t3000\t{{}}\t{{}}\t2\t{hours_of(venue)}"
                f"\t{active}\t1\n"
            )


def _items() -> Iterator[str]:
    for city in CITIES:
        for venue in venues_of(city):
            for item in items_of(venue):
                available = "f" if item % 33 == 0 else "t"
                yield f"{item}\t{venue}\tItem {item}\t500\t{available}\t1\n"


def _users(world: World) -> Iterator[str]:
    for user in range(1, world.users + 1):
        yield f"{user}\t{world.city[user]}\t60\t25\t1\n"


def _lists(world: World, draws: np.random.Generator) -> Iterator[str]:
    """Realistic sizes, few distinct texts: each list is drawn from a pool of permutations."""
    discovery = {
        city: [
            array(draws.permutation(venues_of(city))[:DISCOVERY_SIZE].tolist()) for _ in range(200)
        ]
        for city in CITIES
    }
    items = {
        venue: [array(draws.permutation(items_of(venue)).tolist()) for _ in range(3)]
        for city in CITIES
        for venue in venues_of(city)
    }
    top100 = descending(DISCOVERY_SIZE)
    inputs_at = datetime.now(UTC).isoformat()
    tail = f"\t{VERSION}\t{inputs_at}\n"
    one = array([0, DISCOVERY_SIZE])
    bounds = array(list(range(0, ITEMS_PER_VENUE * (ITEMS_LISTS_PER_USER + 1), ITEMS_PER_VENUE)))
    scores = array(
        [round(1.0 - i / ITEMS_PER_VENUE, 4) for i in range(ITEMS_PER_VENUE)] * ITEMS_LISTS_PER_USER
    )  # one user's 5 items lists, end to end
    for user in range(1, world.users + 1):
        pool = discovery[int(world.city[user])]
        yield f"{user}\tdiscovery\t{{0}}\t{one}\t{pool[user % len(pool)]}\t{top100}{tail}"
        venues = world.venues[user].tolist()
        packed = ",".join(items[venue][user % 3].strip("{}") for venue in venues)
        contexts = array(venues)
        yield f"{user}\titems\t{contexts}\t{bounds}\t{{{packed}}}\t{scores}{tail}"


def _fallbacks(draws: np.random.Generator) -> Iterator[str]:
    top100, top50 = descending(DISCOVERY_SIZE), descending(ITEMS_PER_VENUE)
    lifts = array([round(3.0 - i * 0.2, 2) for i in range(COMPLEMENTS_PER_ITEM)])
    for city in CITIES:
        ids = array(list(venues_of(city))[:DISCOVERY_SIZE])
        yield f"{city}\tdiscovery\t0\t{ids}\t{top100}\t{VERSION}\n"
        for venue in venues_of(city):
            menu = items_of(venue)
            yield f"0\titems\t{venue}\t{array(menu)}\t{top50}\t{VERSION}\n"
            for item in menu:
                others = [i for i in draws.permutation(menu).tolist() if i != item]
                complements = array(others[:COMPLEMENTS_PER_ITEM])
                yield f"0\tcart\t{item}\t{complements}\t{lifts}\t{VERSION}\n"


def warm(url: str) -> None:
    """Bring the lists into memory before each measured phase, as on a database serving steady
    traffic. The table (~500 MB) is larger than a stock `shared_buffers` (128 MB), and this VM
    pages out page cache left idle for ~30 s (DAMON), so without this a phase measures the
    disk instead. Indexes into shared buffers, tables into the OS cache (`pg_prewarm`)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        for relation, mode in (
            ("pk_recommendations", "buffer"),
            ("pk_fallback_recommendations", "buffer"),
            ("recommendations", "read"),
            ("fallback_recommendations", "read"),
        ):
            conn.execute("SELECT pg_prewarm(%s::regclass, %s)", (relation, mode))


# --- measuring -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Latencies:
    seconds: list[float]
    rate: float | None = None  # achieved requests/s (open loop)
    errors: int = 0
    # open loop: per request, seconds from due to sent (the client's own delay, and the wait
    # for a free connection when every one is busy)
    lateness: list[float] = field(default_factory=list)

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.seconds, q)) * 1000

    @staticmethod
    def merge(runs: Sequence[Latencies]) -> Latencies:
        """Runs of the same load pooled: rate = requests / time spent sending them."""
        seconds = [s for run in runs for s in run.seconds]
        busy = sum(len(run.seconds) / run.rate for run in runs if run.rate)
        lateness = [s for run in runs for s in run.lateness]
        return Latencies(seconds, len(seconds) / busy, sum(run.errors for run in runs), lateness)

    def lateness_ms(self, q: float) -> float:
        return float(np.percentile(self.lateness, q)) * 1000 if self.lateness else 0.0


def python_reads(url: str, world: World, reads: int, warmup: int = 2000) -> dict[str, Latencies]:
    """The three reads interleaved on one connection (drift hits them alike), each with its own
    keys from the same distribution, so none reads what another just brought into cache. The
    first `warmup` rounds (caches, prepared statements) are not counted."""
    total = warmup + reads
    keys, others, carts = world.keys(total, 1), world.keys(total, 2), world.carts(total, 3)
    results: dict[str, list[float]] = {"bare": [], "read": [], "cart": []}
    warm(url)
    with psycopg.connect(url, autocommit=True) as conn:
        for i in range(total):
            user, items = carts[i]
            t0 = time.perf_counter()
            conn.execute(BARE_SELECT, keys[i], prepare=True).fetchone()
            t1 = time.perf_counter()
            recs.read(conn, *others[i])
            t2 = time.perf_counter()
            recs.read_cart(conn, user, items)
            t3 = time.perf_counter()
            if i >= warmup:
                results["bare"].append(t1 - t0)
                results["read"].append(t2 - t1)
                results["cart"].append(t3 - t2)
    return {name: Latencies(seconds) for name, seconds in results.items()}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def larder_serve(url: str, port: int, workers: int, tree: Path = ROOT) -> Iterator[None]:
    """`larder serve` as ops run it, until the block ends; from the source tree `tree` (first
    on the import path: `benchmarks.http_ab` compares two)."""
    env = {
        **os.environ,
        **({"PYTHONPATH": str(tree)} if tree != ROOT else {}),
        "DATABASE_URL": url,
        "LARDER_LOG_LEVEL": "WARNING",
        # one key for the whole load: its rate limit must not be what is measured
        "LARDER_API_RATE_PER_S": "100000",
        "LARDER_API_RATE_BURST": "100000",
    }
    larder = str(Path(sys.executable).parent / "larder")
    command = [larder, "serve", "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(command, cwd=tree, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not _answers(port):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"larder serve of {tree} did not start")
            time.sleep(0.1)
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def _answers(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False


def open_loop(
    port: int,
    paths: Sequence[str],
    rate: float,
    headers: dict[str, str] | None = None,
    connections: int = 8,
) -> Latencies:
    """Request i is due at start + i / rate whatever happened before (open loop); its latency
    runs from when it was due, so a stalled server or client is counted, not hidden. The load
    comes from a process of its own (benchmarks/load.py), one thread over `connections`
    keep-alive connections, so the client's own GIL hand-offs are not what is measured."""
    run = load.open_loop(port, paths, rate, headers, connections)
    return Latencies(run.latencies, run.rate, run.errors, run.lateness)


def http_reads(
    url: str, world: World, rate: float, seconds: float, workers: int, slice_seconds: float = 2.0
) -> dict[str, Latencies]:
    """List reads and /healthz in alternating slices of `slice_seconds`, `seconds` of each in
    all: whatever else the machine does in the meantime hits both alike."""
    per_slice = int(rate * slice_seconds)
    slices = max(1, round(seconds / slice_seconds))
    paths = [_path(key) for key in world.keys(per_slice * (slices + 1), 4)]
    parts: dict[str, list[Latencies]] = {"healthz": [], "lists": []}
    key = api_key(url)
    with larder_serve(url, port := free_port(), workers):
        open_loop(port, paths[-per_slice:], rate, key)  # warm-up: connections, statements
        for s in range(slices):
            parts["healthz"].append(open_loop(port, ["/healthz"] * per_slice, rate))
            warm(url)
            lists = paths[s * per_slice : (s + 1) * per_slice]
            parts["lists"].append(open_loop(port, lists, rate, key))
    return {name: Latencies.merge(runs) for name, runs in parts.items()}


def api_key(url: str) -> dict[str, str]:
    """The header of a new lists:read key: the benchmark reads as a product team's client."""
    from store.db import Database
    from store.security import create_key

    database = Database(url, 1)
    with database.unit_of_work() as uow:
        token = create_key(uow.connection, "benchmark", ["lists:read"])
    database.dispose()
    return {"Authorization": f"Bearer {token}"}


def _path(key: tuple[int, str, int]) -> str:
    user, surface, context = key
    query = urllib.parse.urlencode({"context": context} if context else {})
    return f"/v1/users/{user}/recommendations/{surface}" + (f"?{query}" if query else "")


# --- the run -------------------------------------------------------------------------------


def fresh_database(name: str = "reads") -> str:
    """A new database `larder_bench_<name>_<hex>` on SERVER, migrated; its URL."""
    from store import migrate
    from store.db import make_engine
    from store.server import ensure_database

    url = SERVER.rsplit("/", 1)[0] + f"/larder_bench_{name}_{uuid.uuid4().hex[:6]}"
    ensure_database(url)
    engine = make_engine(url, 1)
    migrate.upgrade(engine)
    engine.dispose()
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=1, help="larder serve --workers")
    args = parser.parse_args()
    from store.server import drop_database

    url = fresh_database()
    try:
        started = time.perf_counter()
        world = fill(url, args.users)
        loaded = time.perf_counter() - started
        python = python_reads(url, world, args.reads)
        web = http_reads(url, world, args.rate, args.seconds, args.workers)
    finally:
        drop_database(url)
    report(args, loaded, python, web)


def report(
    args: argparse.Namespace,
    loaded: float,
    python: dict[str, Latencies],
    web: dict[str, Latencies],
) -> None:
    print(
        f"machine: {platform.node()} {os.cpu_count()} cores, Python {platform.python_version()};"
        f" {args.users:,} users x 6 lists loaded in {loaded:.0f} s;"
        f" larder serve --workers {args.workers}; load average at the end"
        f" {os.getloadavg()[0]:.2f} (anything else running skews the tails)"
    )
    rows = [
        ("Python store.recs.read", python["read"], "<= 1 ms"),
        ("  baseline: bare prepared PK SELECT", python["bare"], ""),
        ("Python store.recs.read_cart", python["cart"], ""),
        (f"HTTP list reads @ {args.rate:.0f}/s", web["lists"], "<= 5 ms"),
        (f"  baseline: GET /healthz @ {args.rate:.0f}/s", web["healthz"], ""),
    ]
    print(
        f"{'':42} {'n':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'rate/s':>8}"
        f" {'late p99':>8}  target"
    )
    for name, result, target in rows:
        rate = f"{result.rate:8.0f}" if result.rate else f"{'':8}"
        late = f"{result.lateness_ms(99):8.3f}" if result.lateness else f"{'':8}"
        errors = f"  {result.errors} errors" if result.errors else ""
        print(
            f"{name:42} {len(result.seconds):>7,} {result.percentile_ms(50):8.3f}"
            f" {result.percentile_ms(95):8.3f} {result.percentile_ms(99):8.3f}"
            f" {result.percentile_ms(100):8.2f} {rate} {late}  {target}{errors}"
        )
    print(
        "late p99: how long after its due time the 99th-percentile request was sent (the load"
        " generator's own delay, or every connection busy); latencies run from the due time"
    )


if __name__ == "__main__":
    main()
