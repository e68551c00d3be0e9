"""HTTP reads of two source trees side by side: `larder serve` of each tree (say, a worktree of
main and one of a branch) on one world, open loop at the same rate, in interleaved 2-s slices
(/healthz, discovery lists, banners; the trees' order alternating), so whatever else the
machine does hits both alike. On a shared 2-core VM absolute tails swing by 10x between runs;
the comparison within one run is what holds.

    python -m benchmarks.http_ab /work/main /work/wt-branch [--workers 2] [--slices 8]
        [--rate 500] [--users 100000]

The world is `benchmarks.banners`' (a throwaway database, dropped at the end); the lists are
brought into memory before each slice. Per tree and read: p50/p95/p99 over all slices, the
median and worst of the slices' p99, and how late the client sent its p99 request.
"""

from __future__ import annotations

import argparse
import os
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from benchmarks import banners, reads
from benchmarks.reads import Latencies


def compare(
    url: str, world: reads.World, trees: list[Path], workers: int, slices: int, rate: float
) -> dict[tuple[str, Path], list[Latencies]]:
    per_slice = int(rate * 2)
    users = np.random.default_rng(6).integers(1, world.users + 1, per_slice * (slices + 1))
    paths = {
        "healthz": lambda _: ["/healthz"] * per_slice,
        "discovery": lambda w: [f"/v1/users/{u}/recommendations/discovery" for u in users[w]],
        "banners": lambda w: [f"/v1/users/{u}/recommendations/banners" for u in users[w][::-1]],
    }
    key = reads.api_key(url)
    runs: dict[tuple[str, Path], list[Latencies]] = {}
    with ExitStack() as stack:
        ports = {tree: reads.free_port() for tree in trees}
        for tree, port in ports.items():
            stack.enter_context(reads.larder_serve(url, port, workers, tree))
            warm_up = slice(per_slice * slices, None)
            for read in ("discovery", "banners"):
                reads.open_loop(port, paths[read](warm_up), rate, key)
        for s in range(slices):
            window = slice(s * per_slice, (s + 1) * per_slice)
            reads.warm(url)
            for read, make in paths.items():
                for tree in trees if s % 2 == 0 else trees[::-1]:
                    headers = None if read == "healthz" else key
                    run = reads.open_loop(ports[tree], make(window), rate, headers)
                    runs.setdefault((read, tree), []).append(run)
    return runs


def report(runs: dict[tuple[str, Path], list[Latencies]], args: argparse.Namespace) -> None:
    print(
        f"larder serve --workers {args.workers}, {args.slices} slices of 2 s at {args.rate:.0f}/s"
        f" each; load average at the end {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{'read':10} {'tree':28} {'p50':>7} {'p95':>7} {'p99':>8} {'slice p99 median':>17}"
        f" {'worst':>8} {'late p99':>9} {'rate/s':>7}  (ms)"
    )
    for (read, tree), parts in runs.items():
        merged = Latencies.merge(parts)
        per_slice = sorted(part.percentile_ms(99) for part in parts)
        print(
            f"{read:10} {str(tree)[-28:]:28} {merged.percentile_ms(50):7.2f}"
            f" {merged.percentile_ms(95):7.2f} {merged.percentile_ms(99):8.2f}"
            f" {float(np.median(per_slice)):17.2f} {per_slice[-1]:8.2f}"
            f" {merged.lateness_ms(99):9.2f} {merged.rate or 0:7.0f}"
            + (f"  {merged.errors} errors" if merged.errors else "")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("trees", nargs=2, type=Path, help="two source trees (checkouts)")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2, help="larder serve --workers")
    parser.add_argument("--slices", type=int, default=8)
    parser.add_argument("--rate", type=float, default=500.0)
    args = parser.parse_args()
    from store.server import drop_database

    url = reads.fresh_database("http_ab")
    try:
        world = reads.fill(url, args.users)
        banners.fill(url, world)
        trees = [tree.resolve() for tree in args.trees]
        runs = compare(url, world, trees, args.workers, args.slices, args.rate)
    finally:
        drop_database(url)
    report(runs, args)


if __name__ == "__main__":
    main()
