"""Worker pools: which queues each `dramatiq` command consumes, with how many processes and
threads, and the shutdown chain every deployment of it must keep.

One table for the Procfile (`larder worker POOL`), the Kubernetes manifests (a Deployment and
a KEDA ScaledObject per pool), the compose file and docs/capacity.md; tests check each of
them against it (tests/unit/infra).

**The shutdown chain** (stated here, checked by tests/unit/infra/test_shutdown_chain.py across
these settings, the Procfile and the manifests):

    terminationGracePeriodSeconds >= worker shutdown timeout >= actor time limit
    actor time limit < RabbitMQ consumer_timeout;  max retry backoff < consumer_timeout

- Kubernetes sends SIGTERM, waits the grace period, then SIGKILLs: the grace must cover the
  worker's shutdown timeout, or in-flight work is killed mid-transaction (redelivered, so not
  lost, but done twice and late).
- Dramatiq's worker waits up to its shutdown timeout for in-flight actors; an actor ends by its
  time limit at the latest, so a timeout at least that long lets every actor finish.
- RabbitMQ closes the channel of a consumer holding an unacked delivery past
  `consumer_timeout`: an actor (or a retry held in worker memory until its backoff ends) that
  lives longer is redelivered again and again. infra/rabbitmq/rabbitmq.conf sets it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from workers import queues

RABBITMQ_CONSUMER_TIMEOUT_S = 1800  # RabbitMQ's default, set explicitly in infra/rabbitmq/
METRICS_PORT = 9191  # dramatiq's exposition server in a pod (one `dramatiq` command per pod)


@dataclass(frozen=True)
class Pool:
    """A worker pool: one `dramatiq` command per replica (`larder worker NAME`)."""

    name: str
    queues: tuple[str, ...]
    bound: Literal["io", "cpu"]  # io: many threads share commits; cpu: a process per core
    processes: int  # default per replica (WORKER_PROCESSES); 0: one per core available
    threads: int  # default per process (WORKER_THREADS)
    time_limit_s: int  # LARDER_TIME_LIMIT_MS of the pool's processes
    shutdown_timeout_s: int  # dramatiq --worker-shutdown-timeout
    grace_s: int  # terminationGracePeriodSeconds of its pods
    metrics_port: int  # dramatiq_prom_port when pools share a host (Procfile, compose)
    # KEDA: messages (ready + unacked) per replica, and the depth that wakes a pool at zero
    messages_per_replica: int
    activation: int
    min_replicas: int
    max_replicas: int
    description: str


POOLS: dict[str, Pool] = {
    pool.name: pool
    for pool in (
        Pool(
            "intake",
            (queues.EVENTS, queues.ORDER_CHECKS),
            "io",
            processes=2,
            # A thread holds one message, so a process's shared commit holds at most this many
            # single-event messages: 48 rather than 16 made one-event lifecycle messages ~25%
            # and single intake events ~15% faster, and a no-op actor's ceiling ~50% higher
            # (coalesced acks; benchmarks/orders.py, benchmarks/intake.py, 2026-12-07).
            threads=48,
            time_limit_s=120,
            shutdown_timeout_s=150,
            grace_s=180,
            metrics_port=9191,
            messages_per_replica=200,
            activation=1,
            min_replicas=1,
            max_replicas=12,
            description="events and order checks: I/O-bound, commits shared by many threads",
        ),
        Pool(
            "refresh",
            (queues.RECS, queues.PERSONALISATION),
            "cpu",
            processes=0,
            threads=2,
            time_limit_s=300,
            shutdown_timeout_s=330,
            grace_s=360,
            metrics_port=9193,
            messages_per_replica=20,
            activation=1,
            min_replicas=1,
            max_replicas=16,
            description="list refreshes and personalisation: CPU-bound numpy, a process per core",
        ),
        Pool(
            "batch",
            (queues.BATCH,),
            "cpu",
            processes=1,
            threads=1,
            time_limit_s=1200,
            shutdown_timeout_s=1260,
            grace_s=1290,
            metrics_port=9194,
            messages_per_replica=1,
            activation=1,
            min_replicas=0,
            max_replicas=2,
            description="model training: one big job at a time",
        ),
        Pool(
            "maintenance",
            (queues.MAINTENANCE,),
            "io",
            processes=1,
            threads=2,
            time_limit_s=600,
            shutdown_timeout_s=630,
            grace_s=660,
            metrics_port=9195,
            messages_per_replica=10,
            activation=1,
            min_replicas=0,
            max_replicas=2,
            description="housekeeping: pruning in chunks",
        ),
    )
}

# Every queue in one pool: small deployments, local runs, tests (the Procfile's `worker`).
ALL = Pool(
    "all",
    queues.WORKLOADS,
    "io",
    processes=2,
    threads=16,
    time_limit_s=max(p.time_limit_s for p in POOLS.values()),
    shutdown_timeout_s=max(p.shutdown_timeout_s for p in POOLS.values()),
    grace_s=max(p.grace_s for p in POOLS.values()),
    metrics_port=9191,
    messages_per_replica=200,
    activation=1,
    min_replicas=1,
    max_replicas=1,
    description="every queue in one pool",
)


def pool(name: str) -> Pool:
    if name == ALL.name:
        return ALL
    try:
        return POOLS[name]
    except KeyError:
        raise KeyError(f"no pool {name!r}; pools: {', '.join([*POOLS, ALL.name])}") from None


def cores() -> int:
    """CPUs this process may run on (a container's cpuset, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def chain_problems(
    grace_s: float, shutdown_timeout_s: float, time_limit_s: float, max_backoff_s: float
) -> list[str]:
    """What breaks the shutdown chain (empty when it holds)."""
    problems = []
    if grace_s < shutdown_timeout_s:
        problems.append(f"grace {grace_s:g} s < worker shutdown timeout {shutdown_timeout_s:g} s")
    if shutdown_timeout_s < time_limit_s:
        problems.append(
            f"worker shutdown timeout {shutdown_timeout_s:g} s < actor time limit {time_limit_s:g} s"
        )
    if time_limit_s >= RABBITMQ_CONSUMER_TIMEOUT_S:
        problems.append(
            f"actor time limit {time_limit_s:g} s >= consumer_timeout {RABBITMQ_CONSUMER_TIMEOUT_S} s"
        )
    if max_backoff_s >= RABBITMQ_CONSUMER_TIMEOUT_S:
        problems.append(
            f"max backoff {max_backoff_s:g} s >= consumer_timeout {RABBITMQ_CONSUMER_TIMEOUT_S} s"
        )
    return problems


def dramatiq_argv(
    chosen: Pool, environ: dict[str, str], prefix: str, python: str = "dramatiq"
) -> list[str]:
    """The `dramatiq` command of a pool, with processes, threads, queues and the shutdown
    timeout from the environment (WORKER_PROCESSES, WORKER_THREADS, WORKER_QUEUES: whole
    queue names, WORKER_SHUTDOWN_TIMEOUT_S), else the pool's defaults (its queues under the
    deployment's prefix)."""
    processes = int(environ.get("WORKER_PROCESSES") or chosen.processes or cores())
    threads = int(environ.get("WORKER_THREADS") or chosen.threads)
    given = environ.get("WORKER_QUEUES", "").split()  # whole queue names, as given
    names = given or [prefix + workload for workload in chosen.queues]
    shutdown_s = float(environ.get("WORKER_SHUTDOWN_TIMEOUT_S") or chosen.shutdown_timeout_s)
    return [
        python,
        "workers.broker",
        "actors",
        "--processes",
        str(processes),
        "--threads",
        str(threads),
        "--worker-shutdown-timeout",
        str(int(shutdown_s * 1000)),
        "--queues",
        *names,
    ]
