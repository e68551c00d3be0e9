"""CPU of one refresh job, in this process, on a kept world (`python -m benchmarks.refresh
--keep`): what a `refresh_lists` job of 500 users costs its worker (process time: reading,
ranking, encoding, writing) and its Postgres backend (that backend's CPU time, reads apart),
job after job on one connection. On a shared machine throughput swings with the neighbours;
CPU per job swings much less: compare trees with this, interleaved, and take the minimum.

    python -m benchmarks.refresh_job DATABASE_URL [--jobs 12] [--offset 0] [--surfaces LIST]

Postgres' parallel workers, when a plan uses them, are not counted. The world's lists are
emptied first (a run writes fresh rows, as `benchmarks.refresh` does).
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime
from pathlib import Path


def backend_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a local process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db")
    parser.add_argument("--jobs", type=int, default=12)
    parser.add_argument("--offset", type=int, default=0, help="Users skipped before the first job.")
    parser.add_argument("--surfaces", default="", help="LARDER_REFRESH_SURFACES (empty: all).")
    args = parser.parse_args()
    os.environ.update(
        DATABASE_URL=args.db,
        LARDER_LOG_LEVEL="WARNING",
        LARDER_REFRESH_SURFACES=args.surfaces,
        OPENBLAS_NUM_THREADS="1",
    )
    spent = run(args.db, args.jobs, args.offset)
    per_job = {name: seconds / args.jobs * 1000 for name, seconds in spent.items()}
    print(
        f"{args.surfaces or 'all surfaces'}, {args.jobs} jobs of 500 users, CPU ms per job:"
        f" worker {per_job['worker']:.1f}, Postgres backend {per_job['backend']:.1f}"
        f" (of which reads {per_job['reads']:.1f})"
    )


def run(db_url: str, jobs: int, offset: int) -> dict[str, float]:
    """CPU seconds spent by `jobs` refresh jobs: the worker's, the backend's, its reads'."""
    import psycopg

    import actors.recs as actor
    from domain.recs.bundle import MODEL_KIND
    from domain.recs.lists import user_lists
    from store import recs

    with psycopg.connect(db_url, autocommit=True) as conn:
        users = recs.users_to_refresh(conn, None)
        conn.execute("TRUNCATE recommendations")
    spent = {"worker": 0.0, "backend": 0.0, "reads": 0.0}
    with psycopg.connect(db_url) as conn:
        pid = conn.info.backend_pid
        version = recs.active_version(conn, MODEL_KIND)
        if version is None:
            raise SystemExit("no active model: run benchmarks.refresh --keep first")
        conn.commit()
        bundle, catalog = actor._bundle.get(version), actor.current_catalog()
        for n in range(-1, jobs):  # job -1 warms the per-process caches, uncounted
            ids = users[offset + (n + 1) * 500 : offset + (n + 2) * 500]
            if n == 0:
                spent = dict.fromkeys(spent, 0.0)
            worker, backend = time.process_time(), backend_cpu_s(pid)
            with conn.transaction():  # as the actor reads: one snapshot
                inputs = actor.Inputs(
                    recs.users(conn, ids),
                    actor._histories(recs.user_baskets(conn, ids)),
                    recs.activity(conn, ids),
                    actor._personal_inputs_if_needed(conn, ids),
                )
            spent["reads"] += backend_cpu_s(pid) - backend
            lists = user_lists(
                bundle,
                catalog,
                inputs.homes,
                inputs.histories,
                inputs.activity,
                datetime.now(UTC),
                personal=inputs.personal,
                only=actor._surfaces(),
            )
            with conn.transaction():
                recs.write_lists(conn, lists, version, ids)
            spent["worker"] += time.process_time() - worker
            spent["backend"] += backend_cpu_s(pid) - backend
    return spent


if __name__ == "__main__":
    main()
