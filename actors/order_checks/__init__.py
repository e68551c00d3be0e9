"""Order-problem checks (the `order_checks` queue): lifecycle events in, problem records out.

`check_order_events` takes one lifecycle event or a batch of up to 1,000 (`larder intake publish`
routes them here by type) and applies them in one transaction (store/order_checks.py). Checks
that fire on something *not* happening are timers in Postgres: `sweep_order_checks` claims the
due ones with SKIP LOCKED and judges the venues whose inputs changed; `larder scheduler` runs
it every 0.25 s (any number of schedulers may run).

Rules are judged by `workers.clock` (the real clock, a scaled one for simulations, an injected
one in tests) with the thresholds of the rules file `LARDER_RULES_FILE` (built-in defaults when
unset), read once per process.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any

import dramatiq

from actors.order_checks.inflight import InFlight
from domain.order_checks.rules import RulesConfig, load_rules
from schemas import InvalidMessage
from schemas.order_checks import parse_order_checks
from store import order_checks
from store.combiner import Combiner
from store.order_checks import Report
from workers import clock, coalesce, order_checks_metrics, queues
from workers.backlog import QueueDepth
from workers.broker import database, settings
from workers.concurrency import FairSemaphore
from workers.middleware import is_transient
from workers.scheduling import periodic

log = logging.getLogger("larder.orders")

SWEEP_LIMIT = 1000  # orders (or venues) judged per sweep transaction

_rules: RulesConfig | None = None
_rules_lock = threading.Lock()


def rules() -> RulesConfig:
    """The process's thresholds (the rules file is read once, on first use)."""
    global _rules
    with _rules_lock:
        if _rules is None:
            path = settings.rules_file
            _rules = load_rules(path) if path is not None else RulesConfig()
        return _rules


@dramatiq.actor(
    actor_name="check_order_events",
    queue_name=queues.name(queues.ORDER_CHECKS),
    throws=(InvalidMessage,),
)
def check_order_events(message: dict[str, Any]) -> None:
    """Apply lifecycle events to their orders and judge them; duplicates change nothing.
    Small messages (one event each, as order services publish them) share a transaction with
    the ones this process's other threads apply at the same moment (`apply_together`); those
    waiting in the worker's prefetch come merged into one batch (workers/coalesce.py). When a
    batch of several orders fails with anything but a transient error, its orders are applied
    one by one: a bug in one order's computation does not hold the others back."""
    events = parse_order_checks(message)
    run = apply if len(events) >= BIG_BATCH else apply_together
    try:
        run(events)
    except Exception as error:
        if is_transient(error) or len({e.order_id for e in events}) == 1:
            raise
        _order_by_order(events, run)


def _order_by_order(events: list[Any], run: Callable[[list[Any]], object]) -> None:
    """Apply a failed batch's orders one by one, so that a bug in one order's computation
    leaves the other orders applied; then raise the first failure (the message is retried,
    and dead-lettered if it keeps failing: the orders applied come again as duplicates)."""
    by_order: dict[str, list[Any]] = {}
    for event in events:
        by_order.setdefault(event.order_id, []).append(event)
    failure: Exception | None = None
    for order_events in by_order.values():
        try:
            run(order_events)
        except Exception as error:
            failure = failure or error
    if failure is not None:
        raise failure


# Big lifecycle batches are CPU work (per event, a state read, folded, judged and written):
# more than two at once in one process only share its GIL (one computes while the other
# waits on Postgres). With the Procfile's 16 threads all on big batches, benchmarks/orders.py
# measured ~2,900 events/s, ~3,300-3,600 with this limit, taken in delivery order (a fair
# semaphore: a batch waiting is not overtaken by the ones delivered after it, so it does not
# hold the process's watermark back for long). Small messages are commit-bound: they run on
# every thread.
CONCURRENT_BATCHES = 2
BIG_BATCH = 100  # events
MERGE_LIMIT = 200  # one-event messages merged into one batch (workers/coalesce.py)
_batches = FairSemaphore(CONCURRENT_BATCHES)


def _single(body: Any) -> bool:
    """A one-event message the checks would accept alone (workers/coalesce.py)."""
    if not isinstance(body, dict) or body.get("type") == "batch":
        return False
    try:
        parse_order_checks(body)
    except InvalidMessage:
        return False
    return True


def _batch(bodies: Sequence[Any]) -> dict[str, Any]:
    return {"type": "batch", "schema_version": 1, "events": list(bodies)}


# One-event messages waiting for this process are merged into batches (workers/coalesce.py):
# benchmarks/orders.py measured ~1,600 one-event messages/s through Dramatiq message by
# message, and batches of a few hundred events at 4,500-6,000 events/s.
coalesce.register(coalesce.Coalescing("check_order_events", _single, _batch, limit=MERGE_LIMIT))


def apply(events: list[Any]) -> Report:
    """One transaction for the events (any orders, any order of arrival). While it runs, the
    process's watermark holds at its oldest event (actors/inflight.py)."""
    oldest, newest = min(e.occurred_at for e in events), max(e.occurred_at for e in events)
    holding = _inflight.begin(oldest, clock.now())
    applied = None
    try:
        with _batches if len(events) >= BIG_BATCH else nullcontext():
            report = _apply(events, holding)
        applied = newest
    finally:
        _inflight.end(oldest, applied, clock.now())
    order_checks_metrics.record(report, clock.current().speed)
    return report


def apply_together(events: list[Any]) -> None:
    """Return once `events` (a small message) are applied, in one transaction with the small
    messages this process's other threads submit meanwhile (group commit, store/combiner.py):
    a commit per event is the limit of one-event messages on two cores. Each message holds
    the process's watermark at its oldest event until the shared commit; a shared write that
    fails is retried message by message, so only the message at fault fails."""
    oldest, newest = min(e.occurred_at for e in events), max(e.occurred_at for e in events)
    _inflight.begin(oldest, clock.now())
    applied = None
    try:
        _together.submit([tuple(events)])
        applied = newest
    finally:
        _inflight.end(oldest, applied, clock.now())


def _apply_group(messages: Sequence[tuple[Any, ...]]) -> None:
    """One transaction for several small messages; the watermark it judges by leaves out
    their own oldest events (what it applies is not news it waits for)."""
    own = Counter(min(e.occurred_at for e in message) for message in messages)
    report = _apply([e for message in messages for e in message], _inflight.others(own))
    order_checks_metrics.record(report, clock.current().speed)


# Up to GROUP_MESSAGES small messages per shared transaction (a few hundred events at most).
GROUP_MESSAGES = 100
_together: Combiner[tuple[Any, ...]] = Combiner(_apply_group, max_events=GROUP_MESSAGES)


def _apply(events: list[Any], holding: datetime | None) -> Report:
    quiet = order_checks.DEFAULT_QUIET * clock.current().speed
    with database.unit_of_work() as uow:
        behind = order_checks.LowWater(_worker(), holding, quiet)
        return order_checks.apply_events(uow.connection, events, clock.now, rules(), behind)


def _write_watermark(mark: datetime, now: datetime) -> None:
    with database.unit_of_work(single_statement=True) as uow:
        order_checks.advance_watermark(uow.connection, _worker(), mark, now)


def _worker() -> str:
    """This process's name in `checks_watermarks` (read when used: workers fork)."""
    return f"{socket.gethostname()}:{os.getpid()}"


WATERMARK_EVERY_S = 0.2  # real seconds between a process's watermark writes (a commit each)
_inflight = InFlight(_write_watermark, WATERMARK_EVERY_S)


@periodic("order_checks.sweep", every_s=0.25, unit="orders and venues judged")
def sweep_order_checks(limit: int = SWEEP_LIMIT) -> int:
    """Judge every order whose timer is due, then every venue whose inputs changed or whose
    timer is due; returns how many were judged. While the workers are busy or messages wait
    for them, judge at their watermark, not now (store.order_checks.sweep_instants)."""
    now, speed = clock.now(), clock.current().speed
    quiet, stalled = order_checks.DEFAULT_QUIET * speed, timedelta(seconds=STALLED_S * speed)
    waiting = messages_waiting()
    with database.unit_of_work(single_statement=True) as uow:
        instants = order_checks.sweep_instants(uow.connection, now, waiting, quiet, stalled)
    if instants[0] < now:
        order_checks_metrics.SWEEPS_BEHIND.inc()
    return sum(
        _drain(sweep, instants, limit)
        for sweep in (order_checks.sweep_orders, order_checks.sweep_venues)
    )


def _drain(sweep: Callable[..., Report], instants: tuple[datetime, datetime], limit: int) -> int:
    """Sweep in transactions of `limit` until one finds fewer (the rest is held by others)."""
    judged = 0
    while True:
        with database.unit_of_work() as uow:
            report = sweep(uow.connection, instants, rules(), limit)
        order_checks_metrics.record(report, clock.current().speed)
        judged += report.orders
        if report.orders < limit:
            return judged


# Messages a worker has prefetched but not applied yet are invisible here (Dramatiq prefetches
# two per thread); waiting ones mean the workers are behind: an outage, a deploy, a burst, a
# simulation outrunning them. The sweeps hold while the workers make progress; a queue nobody
# has read for STALLED_S real seconds (a misconfigured WORKER_QUEUES) must not stop every
# timer for good.
STALLED_S = 60.0
_depth: Callable[[str], int | None] | None = None


def messages_waiting() -> bool:
    """Whether lifecycle messages wait unread in the order_checks queue."""
    global _depth
    if settings.broker != "rabbitmq":
        return False
    if _depth is None:
        _depth = QueueDepth(settings.rabbitmq_url.get_secret_value())
    return bool(_depth(queues.name(queues.ORDER_CHECKS)))


@periodic("order_checks.prune", every_s=3600.0, unit="rows pruned")
def prune_finished_orders(older_than_days: int = 7, chunk: int = 10_000) -> int:
    """Forget finished orders, orders never created, and venue decisions older than the
    retention, and the watermarks of worker processes gone for a day (the scheduler runs this
    hourly); returns how many rows went."""
    return order_checks.prune(database, older_than_days, clock.now(), chunk)


# The support console's silences register their periodic duty (imported last: it needs nothing
# from here, and importing `actors` must register it).
from actors.order_checks import silences as silences  # noqa: E402
