"""`larder simulate orders`: publish simulated lifecycles through RabbitMQ in (scaled) real
time, then score the inbox against the injected truth (synthetic/order_checks.py).

Time. `--speed X` runs the simulation X times faster than real time. The checks must judge by
the same clock as the one that stamps the events, so the simulator never decides time on its
own: everything reads `workers.clock`, the scaled clock `LARDER_CLOCK_SPEED` /
`LARDER_CLOCK_EPOCH` describe (now = epoch + (real now - epoch) x speed, a pure function of
the real clock, so processes agree without talking). Events are stamped with that clock's
time and published when that clock reaches their delivery time.

Fleet. By default (`--fleet spawn`) the simulator starts its own fleet for the run: the
Procfile's `worker` line (consuming only the run's `order_checks` queue) and the checks of
`larder scheduler`, with a private queue prefix and the scaled clock (epoch = now), then runs
the simulation in a child process with the same environment, and stops them. With
`--fleet running` it publishes to the configured queues and trusts that the fleet already
runs with LARDER_CLOCK_SPEED equal to `--speed` (it refuses otherwise).

Database. By default a run has a database of its own (`own_database`: `<configured
name>_sim_<hex>` on the configured server, migrated at start, dropped at the end; `--keep-db`
keeps it), and its fleet and the simulation run with DATABASE_URL pointing there: simulated
problems never reach the operator's inbox. `--in-place` (the configured database) or
`--database-url` run in a given, migrated database instead; `--fleet running` writes where
the running fleet writes. The run's orders are `sim<hex>-<n>` and its venues a private id
range, so a run in a shared database is scored on its own records only (its records stay in
that inbox, resolved).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pika

from programs.cli.text import plural
from store import order_checks
from store.db import Database
from synthetic.order_checks import (
    Detection,
    RuleScore,
    Simulation,
    SimulationConfig,
    loud_spans,
    score,
    simulate,
)
from workers.backlog import QueueDepth
from workers.clock import Clock
from workers.publishing import publish
from workers.queues import delete_queues

ROOT = Path(__file__).resolve().parents[1]
TICK_S = 0.05  # publishing granularity, real seconds
LEAD_S = 1.0  # real seconds between building the simulation and its first event


@dataclass
class Outcome:
    simulation: Simulation
    detections: list[Detection]
    scores: list[RuleScore]
    speed: float
    published: int  # deliveries, duplicates included


def private_run(config: SimulationConfig) -> SimulationConfig:
    """The config with a fresh run id and venue range (runs never share records)."""
    run = uuid.uuid4().hex[:6]
    return replace(
        config, run=f"sim{run}", venue_base=9_000_000_000 + int(run, 16) % 10_000 * 100_000
    )


def run(
    config: SimulationConfig,
    broker: Any,
    database: Database,
    clock: Clock,
    queue: str,
    settle_s: float = 2.0,
    echo: Callable[[str], object] = print,
) -> Outcome:
    """Publish the simulation as its clock goes, wait until the checks caught up, score."""
    start = clock.now() + timedelta(seconds=LEAD_S * clock.speed)
    simulation = simulate(config, start)
    span = (simulation.ends_at - start).total_seconds() / clock.speed
    echo(
        f"simulating {plural(config.orders, 'order')}"
        f" ({plural(len(simulation.faults), 'fault')} injected,"
        f" {plural(len(simulation.deliveries), 'delivery', 'deliveries')})"
        f" over {span:.0f} s at {clock.speed:g}x"
    )
    published = _publish_in_time(simulation, broker, clock)
    _wait_until_read(queue, timeout_s=60 + 10 * span)
    _wait_until_idle(database, clock, timeout_s=60 + 10 * span)
    time.sleep(settle_s)  # a few sweeps at now, after the last batch
    detections = detections_of(database, simulation, config)
    return Outcome(
        simulation, detections, score(simulation.faults, detections), clock.speed, published
    )


def _publish_in_time(simulation: Simulation, broker: Any, clock: Clock) -> int:
    """Every TICK_S (real), publish what became due: a producer that batches a little, as
    real ones do (one message per event would measure commits, not the checks)."""
    pending = simulation.deliveries
    sent = 0
    while sent < len(pending):
        now = clock.now()
        due = sent
        while due < len(pending) and pending[due].at <= now:
            due += 1
        if due > sent:
            publish(broker, [d.event for d in pending[sent:due]])
            sent = due
        if sent < len(pending):
            time.sleep(max((pending[sent].at - now).total_seconds() / clock.speed, TICK_S))
    return sent


def _wait_until_read(queue: str, timeout_s: float) -> None:
    """Until the workers have taken every message (seen empty three times in a row); over a
    connection of its own that reconnects, so a dropped connection only costs a poll."""
    from workers.settings import get_settings

    depth = QueueDepth(get_settings().rabbitmq_url.get_secret_value())
    deadline, empty = time.monotonic() + timeout_s, 0
    try:
        while empty < 3 and time.monotonic() < deadline:
            empty = empty + 1 if depth(queue) == 0 else 0
            time.sleep(0.1)
    finally:
        depth.close()


def _wait_until_idle(database: Database, clock: Clock, timeout_s: float) -> None:
    """Until no worker process has held or applied a lifecycle message for a quiet spell: only
    then do the sweeps judge at now (before, at the workers' low-water mark)."""
    quiet = order_checks.DEFAULT_QUIET * clock.speed
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with database.unit_of_work(single_statement=True) as uow:
            if order_checks.low_water_mark(uow.connection, clock.now(), quiet) is None:
                return
        time.sleep(0.1)


def detections_of(
    database: Database, simulation: Simulation, config: SimulationConfig
) -> list[Detection]:
    """The run's records, each with the cause it opened under and when it was a card."""
    venues = (min(simulation.venue_ids), max(simulation.venue_ids))
    with database.unit_of_work() as uow:
        rows = order_checks.run_problems(uow.connection, f"{config.run}-%", venues)
        changes = order_checks.run_problem_history(uow.connection, f"{config.run}-%", venues)
    history: dict[int, list[tuple[Any, str, bool | None]]] = defaultdict(list)
    opened_by: dict[int, str | None] = {}
    for problem_id, at, change, muted, muted_by in changes:
        history[problem_id].append((at, change, muted))
        if muted_by is not None:  # the first cause it was muted by, at opening or after
            opened_by.setdefault(problem_id, muted_by)
    return [
        Detection(
            rule,
            order_id if order_id is not None else venue_id,
            since,
            opened_at,
            opened_by.get(problem_id),
            loud_spans(history[problem_id]),
            judged_as_of,
        )
        for rule, order_id, venue_id, since, opened_at, problem_id, judged_as_of in rows
    ]


# ---------------------------------------------------------------- a private database

PG_NAME_MAX = 63  # Postgres truncates longer identifiers


class NoDatabase(Exception):
    """The run's own database could not be created (the server does not answer, no right)."""


def own_database_name(configured: str, run: str) -> str:
    """`<configured>_sim_<run>`, the configured name shortened to fit Postgres' limit."""
    suffix = f"_sim_{run}"
    return configured[: PG_NAME_MAX - len(suffix)] + suffix


@contextmanager
def own_database(configured_url: str, run: str, *, keep: bool = False) -> Iterator[str]:
    """A database of the run's own on the configured server, migrated; yields its URL (same
    credentials) and drops it when the block ends, unless `keep`."""
    from store import migrate
    from store.db import make_engine
    from store.server import database_name, drop_database, ensure_database, with_database

    url = with_database(configured_url, own_database_name(database_name(configured_url), run))
    try:
        ensure_database(url)
    except Exception as error:
        raise NoDatabase(f"could not create the run's own database: {error}") from error
    try:
        engine = make_engine(url, pool_size=1)
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()
        yield url
    finally:
        if not keep:
            drop_database(url)


# ---------------------------------------------------------------- a private fleet


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def procfile(process: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            return command.strip()
    raise LookupError(f"no {process} line in the Procfile")


@contextmanager
def fleet(
    env: dict[str, str],
    rabbitmq_url: str,
    queues: Sequence[str] = ("order_checks",),
    duties: str | None = "order_checks",
) -> Iterator[Path]:
    """The Procfile's worker (the run's `queues` only) and, with `duties`, the scheduler's duties
    of that capability, in the environment `env` (with the run's queue prefix), until the block
    ends. Yields the scratch directory that holds their log (`fleet.log`)."""
    prefix = env["LARDER_QUEUE_PREFIX"]
    queue = prefix + queues[0]
    scratch = Path(tempfile.mkdtemp(prefix="larder-sim-"))
    prom = str(scratch / "prometheus")  # the worker line empties this one at start
    env = {
        **env,
        "WORKER_QUEUES": " ".join(prefix + q for q in queues),
        "PROMETHEUS_MULTIPROC_DIR": prom,
        "dramatiq_prom_host": "127.0.0.1",
        "dramatiq_prom_port": str(free_port()),
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    commands = [procfile("worker")]
    if duties is not None:
        commands.append(f"{sys.executable} -m programs.cli scheduler --only {duties}")
    log = (scratch / "fleet.log").open("ab")
    processes = [
        subprocess.Popen(
            ["sh", "-c", c], cwd=ROOT, env=env, start_new_session=True, stdout=log, stderr=log
        )
        for c in commands
    ]
    try:
        _wait_for_queue(rabbitmq_url, queue, processes, log.name)
        yield scratch
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(timeout=120)
        log.close()
        delete_queues(rabbitmq_url, prefix)


def _wait_for_queue(
    url: str, queue: str, processes: list[subprocess.Popen[bytes]], log: str
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise RuntimeError(f"the simulation's fleet did not start: see {log}")
        connection = pika.BlockingConnection(pika.URLParameters(url))
        try:
            connection.channel().queue_declare(queue, passive=True)
            return
        except pika.exceptions.ChannelClosedByBroker:
            time.sleep(0.2)
        finally:
            if connection.is_open:
                connection.close()
    raise RuntimeError(f"the simulation's worker never declared {queue}: see {log}")
