"""Periodic duties: each capability registers its own (`@periodic` in its actor module), and
`larder scheduler` (Procfile `scheduler`) runs what is registered.

Several schedulers may run (replicas, a deploy overlapping the old one). A duty fires once per
period across all of them: before running a duty, a scheduler must lead it, i.e. hold its
session-level Postgres advisory lock (`store.scheduling.Leases`). The lock is held for as long
as the leader's connection lives, so the others skip the duty; when the leader dies (its
connection closes), the next scheduler that tries takes the lock and runs the duty at once: a
tick missed while nobody led is caught up by one run, not many.

What a duty did is logged at INFO (quiet when it did nothing; duties that run every few
seconds, once per SUMMARY_S with the runs it sums), every run at DEBUG, and counted in
`larder_scheduler_duty_runs_total{duty, outcome}`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import Counter

log = logging.getLogger("larder.scheduler")
SUMMARY_S = 30.0  # a duty that runs more often than this says what it did at most this often

RUNS = Counter(
    "larder_scheduler_duty_runs_total",
    "Runs of the scheduler's periodic duties, by outcome (done, idle, failed).",
    ["duty", "outcome"],
)


@dataclass
class Duty:
    """A periodic duty: `run()` returns how many things it did (users enqueued, rows pruned,
    orders judged), which `unit` names for the log; None when there is nothing to count."""

    name: str  # capability.duty: unique, and the name of its lock
    every_s: float
    run: Callable[[], int | None]
    unit: str = "done"
    description: str = ""
    due: float = field(default=0.0, compare=False)
    done: int = field(default=0, compare=False)  # what it did since it last said so
    busy_runs: int = field(default=0, compare=False)
    said_at: float = field(default=0.0, compare=False)

    @property
    def capability(self) -> str:
        return self.name.split(".", 1)[0]


_REGISTRY: dict[str, Duty] = {}


def periodic(
    name: str, every_s: float, unit: str = "done"
) -> Callable[[Callable[[], int | None]], Callable[[], int | None]]:
    """Register the decorated function as the periodic duty `name` (`capability.duty`); its
    docstring's first line describes it in the scheduler's start-up log."""

    def register(run: Callable[[], int | None]) -> Callable[[], int | None]:
        if name in _REGISTRY and _REGISTRY[name].run is not run:
            raise ValueError(f"duty {name!r} registered twice")
        summary = (run.__doc__ or name).strip().splitlines()[0]
        _REGISTRY[name] = Duty(name, every_s, run, unit, summary)
        return run

    return register


def registered(only: Iterable[str] = (), every: dict[str, float] | None = None) -> list[Duty]:
    """Fresh copies of the registered duties (of the `only` capabilities, when given), with the
    intervals of `every` (duty name -> seconds) instead of their own."""
    wanted, every = set(only), every or {}
    unknown = set(every) - set(_REGISTRY)
    if unknown:
        raise KeyError(f"no such duties: {sorted(unknown)}; known: {sorted(_REGISTRY)}")
    return [
        Duty(d.name, every.get(d.name, d.every_s), d.run, d.unit, d.description)
        for d in _REGISTRY.values()
        if not wanted or d.capability in wanted
    ]


class Leader(Protocol):
    """Whether this scheduler may run a duty now: it leads it (`store.scheduling.Leases`)."""

    def leads(self, duty: str) -> bool: ...


class Alone:
    """Leads every duty: one scheduler on its own (tests, `--once` runs by hand)."""

    def leads(self, duty: str) -> bool:
        return True


def describe(plan: Sequence[Duty]) -> str:
    lines = [f"  every {_seconds(d.every_s):>6}  {d.name}: {d.description}" for d in plan]
    return "\n".join(["periodic duties (each fires once per period across schedulers):", *lines])


def _seconds(every_s: float) -> str:
    if every_s >= 3600 and every_s % 3600 == 0:
        return f"{every_s / 3600:g} h"
    if every_s >= 60 and every_s % 60 == 0:
        return f"{every_s / 60:g} min"
    return f"{every_s:g} s"


def run_lanes(plan: list[Duty], leader: Leader, fast_s: float = 1.0) -> None:
    """Run the plan forever; duties due more often than every `fast_s` run in a thread of
    their own, so a slow duty (a prune of a big table) never delays them."""
    fast = [duty for duty in plan if duty.every_s < fast_s]
    slow = [duty for duty in plan if duty.every_s >= fast_s]
    if fast and slow:
        lane = threading.Thread(target=run, args=(fast, leader), name="fast duties", daemon=True)
        lane.start()
    run(slow or fast, leader)


def run(
    plan: list[Duty],
    leader: Leader | None = None,
    once: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Run each duty when due and led by this scheduler; a failing duty is logged and tried
    again next time."""
    leader = leader or Alone()
    while True:
        now = clock()
        for duty in plan:
            if now >= duty.due:
                duty.due = now + duty.every_s
                _run_if_led(duty, leader)
        if once:
            return
        time.sleep(max(0.05, min(d.due for d in plan) - clock()))


def _run_if_led(duty: Duty, leader: Leader) -> None:
    try:
        if not leader.leads(duty.name):
            return
        started = time.perf_counter()
        count = duty.run()
    except Exception:
        RUNS.labels(duty.name, "failed").inc()
        log.exception("scheduled duty failed: %s", duty.name)
        return
    elapsed_ms = (time.perf_counter() - started) * 1000
    RUNS.labels(duty.name, "idle" if count == 0 else "done").inc()
    what = duty.unit if count is None else f"{count} {duty.unit}"
    log.debug("%s: %s (%.0f ms)", duty.name, what, elapsed_ms)
    if count != 0:
        duty.done += 1 if count is None else count
        duty.busy_runs += 1
    _summarise(duty)


def _summarise(duty: Duty, now: float | None = None) -> None:
    """Say at INFO what a duty did: each run of a slow duty that did something; for a duty
    that runs every few seconds, one line per SUMMARY_S at most, with the runs it sums."""
    now = time.monotonic() if now is None else now
    if duty.busy_runs == 0 or now - duty.said_at < (0 if duty.every_s >= SUMMARY_S else SUMMARY_S):
        return
    if duty.every_s >= SUMMARY_S:
        log.info("%s: %s %s", duty.name, duty.done, duty.unit)
    else:
        span = now - duty.said_at if duty.said_at else duty.every_s * duty.busy_runs
        log.info(
            "%s: %s %s in %d runs over %.0f s",
            duty.name,
            duty.done,
            duty.unit,
            duty.busy_runs,
            span,
        )
    duty.done, duty.busy_runs, duty.said_at = 0, 0, now
