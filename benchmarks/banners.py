"""The banners surface: read latency and statistics updates, each beside a baseline measured in
the same run.

  store.recs.read(..., "banners") (Python)   vs  a bare prepared primary-key SELECT
  GET /v1/users/{id}/recommendations/banners vs  GET /healthz and a discovery list read, open
                                                 loop at the same rate, alternating slices
  banner impressions through intake's statement (they also update `banner_stats`)
                                             vs  discovery impressions (no statistics)

The world of `benchmarks.reads` (100k users, 3 cities) plus 20 banners per city, each user's
banner ordering of 8 with propensities, the cities' fallbacks and some overrides (a pin per
city, 2 paused banners, exclusions for 1 % of the users), so a read does all its checks.

    python -m benchmarks.banners [--users 100000] [--reads 20000] [--rate 500] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from benchmarks import reads
from benchmarks.reads import CITIES, VERSION, Latencies, array
from store import recs

BANNERS_PER_CITY = 20
SHOWN = 8


def banner_ids(city: int) -> list[int]:
    return [city * 1000 + b for b in range(1, BANNERS_PER_CITY + 1)]


def fill(url: str, world: reads.World, seed: int = 11) -> None:
    draws = np.random.default_rng(seed)
    with psycopg.connect(url, autocommit=True) as conn:
        reads._copy(
            conn,
            "banners (banner_id, name, city_ids, category_ids, brand_ids, venue_ids, segments,"
            " starts_at, ends_at, active, version)",
            _banners(),
        )
        reads._copy(
            conn,
            "recommendations (user_id, surface, contexts, bounds, ids, scores, model_version,"
            " inputs_at)",
            _orderings(world, draws),
        )
        reads._copy(
            conn,
            "fallback_recommendations (city_id, surface, context, ids, scores, model_version)",
            _fallbacks(),
        )
        reads._copy(
            conn,
            "recs_overrides (action, target, target_id, city_id, user_id, slot, reason)",
            _overrides(world),
        )
        conn.execute("VACUUM ANALYZE")


def _banners() -> Iterator[str]:
    now = datetime.now(UTC)
    starts, ends = (now - timedelta(days=1)).isoformat(), (now + timedelta(days=7)).isoformat()
    for city in CITIES:
        for banner in banner_ids(city):
            yield (
                f"{banner}\tBanner {banner}\t{{{city}}}\t{{}}\t{{}}\t{{}}\t{{}}\t{starts}\t{ends}"
                "\tt\t1\n"
            )


def _orderings(world: reads.World, draws: np.random.Generator) -> Iterator[str]:
    tail = f"\t{VERSION}\t{datetime.now(UTC).isoformat()}\n"
    bounds = array([0, SHOWN, 2 * SHOWN])
    for user in range(1, world.users + 1):
        ids = draws.permutation(banner_ids(int(world.city[user])))[:SHOWN].tolist()
        scores = [round(0.05 - i * 0.002, 4) for i in range(SHOWN)]
        props = [round(float(p), 4) for p in draws.uniform(0.05, 0.6, SHOWN)]
        yield f"{user}\tbanners\t{{0,1}}\t{bounds}\t{array(ids + ids)}\t{array(scores + props)}{tail}"


def _fallbacks() -> Iterator[str]:
    for city in CITIES:
        ids = array(banner_ids(city)[:SHOWN])
        yield f"{city}\tbanners\t0\t{ids}\t{array([0.03] * SHOWN)}\t{VERSION}\n"
        yield f"{city}\tbanners\t1\t{ids}\t{array([1.0] * SHOWN)}\t{VERSION}\n"


def _overrides(world: reads.World) -> Iterator[str]:
    for city in CITIES:
        yield f"pin\tbanner\t{banner_ids(city)[-1]}\t{city}\t\\N\t1\tbenchmark\n"
        yield f"pause\tbanner\t{banner_ids(city)[0]}\t\\N\t\\N\t\\N\tbenchmark\n"
    for user in range(1, world.users + 1, 100):
        banner = banner_ids(int(world.city[user]))[1]
        yield f"exclude\tbanner\t{banner}\t\\N\t{user}\t\\N\tbenchmark\n"


def python_reads(url: str, world: reads.World, count: int, warmup: int = 2000) -> dict[str, Any]:
    draws = np.random.default_rng(5)
    users = draws.integers(1, world.users + 1, warmup + count).tolist()
    others = draws.integers(1, world.users + 1, warmup + count).tolist()
    results: dict[str, list[float]] = {"bare": [], "banners": []}
    with psycopg.connect(url, autocommit=True) as conn:
        for i, (user, other) in enumerate(zip(users, others, strict=True)):
            t0 = time.perf_counter()
            conn.execute(reads.BARE_SELECT, (user, "banners", 0), prepare=True).fetchone()
            t1 = time.perf_counter()
            found = recs.read(conn, other, "banners")
            t2 = time.perf_counter()
            assert found is not None and found.propensities is not None
            if i >= warmup:
                results["bare"].append(t1 - t0)
                results["banners"].append(t2 - t1)
    return {name: Latencies(seconds) for name, seconds in results.items()}


def http_reads(url: str, world: reads.World, rate: float, seconds: float, workers: int) -> Any:
    per_slice, slices = int(rate * 2.0), max(1, round(seconds / 2.0))
    draws = np.random.default_rng(6)
    users = draws.integers(1, world.users + 1, per_slice * (slices + 1)).tolist()
    paths = [f"/v1/users/{u}/recommendations/banners" for u in users]
    lists = [f"/v1/users/{u}/recommendations/discovery" for u in users[::-1]]
    parts: dict[str, list[Latencies]] = {"healthz": [], "discovery": [], "banners": []}
    key = reads.api_key(url)
    with reads.larder_serve(url, port := reads.free_port(), workers):
        reads.open_loop(port, paths[-per_slice:], rate, key)
        for s in range(slices):
            reads.warm(url)  # the lists in memory, as on a database serving steady traffic
            parts["healthz"].append(reads.open_loop(port, ["/healthz"] * per_slice, rate))
            window = slice(s * per_slice, (s + 1) * per_slice)
            parts["discovery"].append(reads.open_loop(port, lists[window], rate, key))
            parts["banners"].append(reads.open_loop(port, paths[window], rate, key))
    return {name: Latencies.merge(runs) for name, runs in parts.items()}


def stats_updates(
    url: str, world: reads.World, batches: int = 30, size: int = 1000
) -> dict[str, float]:
    """Intake's activity statement on batches of banner impressions (statistics updated) and of
    discovery impressions (none), alternating; events/s of each."""
    from store.intake import apply

    draws = np.random.default_rng(8)
    now = datetime.now(UTC).isoformat()
    spent = {"banner": 0.0, "discovery": 0.0}
    with psycopg.connect(url) as conn:
        for b in range(batches):
            for surface in ("banner", "discovery"):
                rows = []
                for k in range(size):
                    user = int(draws.integers(1, world.users + 1))
                    row = {
                        "event_id": f"bench-{surface}-{b}-{k}",
                        "user_id": user,
                        "kind": "impression",
                        "surface": surface,
                        "venue_id": None,
                        "item_id": None,
                        "banner_id": None,
                        "brand_id": None,
                        "category_id": None,
                        "position": k % 3,
                        "propensity": 0.2,
                        "occurred_at": now,
                    }
                    if surface == "banner":
                        row["banner_id"] = banner_ids(int(world.city[user]))[k % BANNERS_PER_CITY]
                    else:
                        row["venue_id"] = reads.venues_of(int(world.city[user]))[k % 100]
                    rows.append(row)
                started = time.perf_counter()
                apply(conn, {"activity": rows})
                conn.commit()
                spent[surface] += time.perf_counter() - started
    return {s: batches * size / seconds for s, seconds in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--web-workers", type=int, default=2)
    args = parser.parse_args()
    url = reads.fresh_database()
    os.environ.update(DATABASE_URL=url, LARDER_QUEUE_PREFIX=f"benchb{uuid.uuid4().hex[:4]}.")
    from store.server import drop_database

    try:
        world = reads.fill(url, args.users)
        fill(url, world)
        reads.warm(url)
        python = python_reads(url, world, args.reads)
        http = http_reads(url, world, args.rate, args.seconds, args.web_workers)
        updates = stats_updates(url, world)
    finally:
        drop_database(url)
    report(args, python, http, updates)


def report(args: argparse.Namespace, python: Any, http: Any, updates: dict[str, float]) -> None:
    print(f"machine: {platform.platform()}, {os.cpu_count()} cpus; {args.users:,} users")
    rows = {
        "python p50/p99 ms": {
            k: [round(v.percentile_ms(50), 3), round(v.percentile_ms(99), 3)]
            for k, v in python.items()
        },
        "http p50/p95/p99 ms": {
            k: [round(v.percentile_ms(q), 3) for q in (50, 95, 99)] for k, v in http.items()
        },
        # how late the load generator sent its 99th-percentile request (latencies include it)
        "http client sent-late p99 ms": {k: round(v.lateness_ms(99), 3) for k, v in http.items()},
        "http achieved rate": {k: round(v.rate or 0, 1) for k, v in http.items()},
        "http errors": {k: v.errors for k, v in http.items()},
        "intake events/s": {k: round(v) for k, v in updates.items()},
        "ratios": {
            "python banners/bare p99": round(
                python["banners"].percentile_ms(99) / python["bare"].percentile_ms(99), 2
            ),
            "http banners/healthz p99": round(
                http["banners"].percentile_ms(99) / http["healthz"].percentile_ms(99), 2
            ),
            "banner/discovery impressions per s": round(
                updates["banner"] / updates["discovery"], 2
            ),
        },
    }
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
