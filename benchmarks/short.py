"""`make bench-short`: a reduced run of each benchmark, a few minutes in all, each ratio printed
beside the figure recorded for it in the README ("Benchmarks, short"), a drop beyond the
machine's noise flagged. A report, never a gate: it exits 0 whatever it finds (CI runs it as a
report). Each benchmark runs in a process of its own (settings are read once per process).

    python -m benchmarks.short            # all of them
    python -m benchmarks.short --one intake_single

Every ratio is larder's figure over a ceiling measured in the same run (higher is better), so
it means something on a machine busy with other work, where absolute rates do not.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workers.pools import POOLS

ROOT = Path(__file__).resolve().parents[1]
NOISE = 0.25  # runs on a 2-core VM vary +-20 % (benchmarks/README.md): flag drops beyond 25 %
HEADING = "### Benchmarks, short"


def intake() -> dict[str, float]:
    from benchmarks import intake as bench
    from store.server import drop_database
    from workers.queues import WORKLOADS, delete_queues

    events = bench.world_events(4_000 + 40_000)
    single, batched = events[:4_000], events[4_000:]
    db_url, prefix = bench.fresh_database(), f"bench{uuid.uuid4().hex[:6]}."

    def start() -> Any:
        return bench.workers(prefix, db_url, 2, POOLS["intake"].threads)

    try:
        bench.declare_queues(start, prefix)
        one = bench.run_single(prefix, db_url, single, start)
        many = bench.run_batched(prefix, db_url, batched, start)
        copy = bench.copy_ceiling(db_url, batched)
    finally:
        drop_database(db_url)
        delete_queues(bench.RABBITMQ, prefix, (*WORKLOADS, "noop"))
    return {
        "intake_single": one["ingest_events_per_s"] / one["noop_msgs_per_s"],
        "intake_batched": many["ingest_events_per_s"] / copy,
    }


def orders() -> dict[str, float]:
    from datetime import timedelta

    from benchmarks import orders as bench
    from store.server import drop_database
    from workers.queues import WORKLOADS, delete_queues

    db_url, prefix = bench.fresh_database(), f"bench{uuid.uuid4().hex[:6]}."

    def start() -> Any:
        return bench.workers(prefix, db_url, 2, POOLS["intake"].threads)

    try:
        later = datetime.now(UTC) + timedelta(hours=1)
        _, events = bench.load_live_orders(db_url, 10_000, later, 2)
        with start():
            while None in (
                bench.queue_depth(prefix + "order_checks"),
                bench.queue_depth(prefix + "noop"),
            ):
                time.sleep(0.2)
        found = bench.throughput(prefix, db_url, events, start, 16_000)
    finally:
        drop_database(db_url)
        delete_queues(bench.RABBITMQ, prefix, (*WORKLOADS, "noop"))
    # the no-op ceiling drains 20 messages in milliseconds at this size: pure noise; the
    # worst-case batching (every batch touching ~1,000 orders) is measured in the same run
    partitioned, worst = found["partitioned"], found["delivery_order"]
    return {
        "orders": partitioned["events_per_s"] / worst["events_per_s"],
        "orders_single": found["single"]["events_per_s"] / found["noop_single_events_per_s"],
    }


def refresh() -> dict[str, float]:
    from benchmarks import refresh as bench
    from store.server import drop_database
    from synthetic.world import WorldConfig
    from workers.queues import delete_queues

    config = WorldConfig(
        cities=3, venues=300, items_per_venue=30, users=8_000, days=30,
        end=datetime.now(UTC).replace(microsecond=0),
    )  # fmt: skip
    db_url, prefix = bench.fresh_database(), f"bench{uuid.uuid4().hex[:6]}."
    bench.configure(db_url, prefix)
    args = argparse.Namespace(processes=2, threads=2, chunk=500)
    try:
        bench.load_world(db_url, config)
        from actors.recs.training import train_version

        train_version()
        found = bench.full_refresh(db_url, prefix, args)
        ceiling = bench.copy_ceiling(db_url, found["users"], args.chunk)
    finally:
        drop_database(db_url)
        delete_queues(bench.RABBITMQ, prefix)
    return {"refresh": found["users_per_s"] / ceiling["users_per_s"]}


def reads() -> dict[str, float]:
    from benchmarks import reads as bench
    from store.server import drop_database

    url = bench.fresh_database()
    try:
        world = bench.fill(url, 20_000)
        python = bench.python_reads(url, world, 5_000)
        web = bench.http_reads(url, world, 300.0, 6.0, 1)
    finally:
        drop_database(url)
    return {
        "reads_python": python["bare"].percentile_ms(99) / python["read"].percentile_ms(99),
        "reads_http": web["healthz"].percentile_ms(99) / web["lists"].percentile_ms(99),
    }


BENCHMARKS: dict[str, Callable[[], dict[str, float]]] = {
    "intake": intake,
    "orders": orders,
    "refresh": refresh,
    "reads": reads,
}
WHAT = {
    "intake_single": "intake, single-event messages / no-op actor",
    "intake_batched": "intake, 1,000-event batches / plain COPY",
    "orders": "order checks, batched as publish does / 1,000 in delivery order",
    "orders_single": "order checks, one event per message / no-op actor on the same messages",
    "refresh": "full refresh users/s / COPY-upsert of the same rows",
    "reads_python": "bare PK SELECT p99 / store.recs.read p99",
    "reads_http": "GET /healthz p99 / list read p99 (300/s)",
}


def recorded(readme: Path = ROOT / "README.md") -> dict[str, float]:
    """The ratios recorded in the README's short-benchmark table (`| name | ratio | ...`)."""
    text = readme.read_text()
    if HEADING not in text:
        return {}
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    found = {}
    for line in section.splitlines():
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        if len(cells) >= 3 and cells[0] in WHAT:
            try:
                found[cells[0]] = float(cells[2])
            except ValueError:
                continue
    return found


def verdict(now: float, before: float | None) -> str:
    if before is None:
        return "no recorded figure"
    change = now / before - 1
    if change < -NOISE:
        return f"DROP {change:+.0%} (beyond the {NOISE:.0%} noise)"
    return f"{change:+.0%} (within noise)" if abs(change) <= NOISE else f"{change:+.0%} (better)"


def run_one(name: str) -> None:
    print(json.dumps(BENCHMARKS[name]()))


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--one", choices=sorted(BENCHMARKS))
    args = parser.parse_args()
    if args.one:
        run_one(args.one)
        return 0
    before = recorded()
    load = os.getloadavg()[0]
    print(f"bench-short: {os.cpu_count()} cores, load average {load:.2f} at the start")
    results: dict[str, float] = {}
    for name in BENCHMARKS:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.short", "--one", name],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        lines = [x for x in done.stdout.splitlines() if x.startswith("{")]
        if done.returncode != 0 or not lines:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            print(f"  {name}: could not run ({tail[0]})")
            continue
        results |= json.loads(lines[-1])
        print(f"  {name}: {time.monotonic() - started:.0f} s")
    print("\n| ratio | now | README | change |\n|---|---|---|---|")
    for key, value in results.items():
        recorded_value = before.get(key)
        shown = f"{recorded_value:.3f}" if recorded_value is not None else "-"
        print(
            f"| {WHAT[key]} (`{key}`) | {value:.3f} | {shown} | {verdict(value, recorded_value)} |"
        )
    print(
        f"\nload average at the end {os.getloadavg()[0]:.2f}: other work on the machine skews"
        " every figure; ratios less so (a report, never a gate)"
    )
    flagged = [k for k, v in results.items() if verdict(v, before.get(k)).startswith("DROP")]
    if flagged:
        print(f"flagged: {', '.join(flagged)}: re-run the full benchmark (benchmarks/README.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
