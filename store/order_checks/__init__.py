"""Order-problem checks on Postgres: the projection rows, their timers and the problem records.

Every function runs inside the caller's transaction (one per event batch, one per sweep):

- **Events** (`apply_events`): rows of the batch's orders are created if missing and locked in
  order_id order (concurrent batches meet in the same order: no deadlock), event ids are
  recorded in `processed_events` (a duplicate changes nothing), the new events are folded into
  each state (`domain.order_checks.projection`, out-of-order safe), and the rules judge the changed
  orders at `now`.
- **Order timers** (`sweep_orders`): rows whose `next_due_at` has come are claimed with
  `FOR UPDATE SKIP LOCKED` (any number of sweepers; a row an event batch holds is skipped, that
  batch judges it anyway) and judged at `now`; the cost follows the due rows, not live orders.
- **Venues** (`sweep_venues`): venue_struggling is judged from the venue's recent decisions and
  its orders waiting for acceptance. Order transactions only append to `venue_changes` (they
  never wait on each other for a venue); the sweep claims those entries and due venue timers,
  locks the venues with SKIP LOCKED and hands back the entries of venues it could not lock.

Problem rows are locked in problem_id order before they are updated, by both paths, so the
venue sweep's muting and an order batch never deadlock.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import msgspec
import psycopg

from domain.order_checks.checks import (
    Judgement,
    LiveProblem,
    check_order_through,
    check_venue,
    muted_rules,
)
from domain.order_checks.projection import OrderState, fold
from domain.order_checks.rules import (
    VENUE_INHIBITS,
    VENUE_INPUTS,
    RulesConfig,
    VenueActivity,
    VenueOutcome,
    lookback_minutes,
    venue_outcome,
)
from schemas.order_checks import LifecycleEvent
from store.db import Database
from store.order_checks import queries

logger = logging.getLogger(__name__)

# The JSON of `domain.order_checks.projection.dump_state` (tests/test_order_checks.py checks they
# agree), through msgspec: an order with a long courier track has a ~17 kB state, read and
# written once per event; msgspec does both 2.4x faster than pydantic's dump_json /
# validate_json, themselves 3-4x faster than json + dump_state / load_state.
_DECODER = msgspec.json.Decoder(OrderState)
_ENCODER = msgspec.json.Encoder()

# A batch is judged at the time of its newest event (plus this grace), or now if earlier: a
# batch the workers take late -- a backlog after an outage, a compressed-time simulation
# outrunning them -- must not find "nothing happened" when what happened is still in the
# queue behind it. Timers that come due in between are the sweeps' (due at once: next sweep).
EVENT_GRACE = timedelta(seconds=30)
DEFAULT_QUIET = timedelta(seconds=2)  # a worker process that applied nothing for this is idle


def encode_state(state: OrderState) -> str:
    return _ENCODER.encode(state).decode()


def decode_state(text: str) -> OrderState:
    return _DECODER.decode(text)


@dataclass(frozen=True)
class Subject:
    """Whose records: an order (with its venue and city), or a venue for venue-level rules."""

    order_id: str | None
    venue_id: int | None
    city_id: int | None


@dataclass
class Report:
    """What one transaction did (the caller turns it into metrics after the commit)."""

    events: int = 0
    duplicates: int = 0
    orders: int = 0  # orders (or venues) judged
    opened: list[tuple[str, float]] = field(default_factory=list)  # (rule, since->open, s)
    resolved: list[tuple[str, str]] = field(default_factory=list)  # (rule, how)


# ---------------------------------------------------------------- events


def apply_events(
    conn: psycopg.Connection[Any],
    events: Sequence[LifecycleEvent],
    clock: Callable[[], datetime],
    config: RulesConfig,
    behind: LowWater | None = None,
) -> Report:
    """Fold a batch of lifecycle events into their orders and judge the changed ones at the
    clock's now, read once the rows are locked -- or earlier: see `batch_instant`."""
    by_order: dict[str, list[LifecycleEvent]] = defaultdict(list)
    for event in events:
        by_order[event.order_id].append(event)
    order_ids = sorted(by_order)
    conn.execute(queries.ORDER_PLACEHOLDERS, {"order_ids": order_ids})
    stored, judged, dues = _states(conn.execute(queries.LOCK_ORDERS, {"order_ids": order_ids}))
    fresh = _record_events(conn, events)
    report = Report(events=len(events), duplicates=len(events) - len(fresh))
    changed: dict[str, tuple[OrderState | None, OrderState]] = {}
    for order_id in order_ids:
        before = stored.get(order_id)
        # A new row applies every event of the batch (the projection is idempotent): even
        # if all were seen before, the state is rebuilt rather than left empty.
        new = [e for e in by_order[order_id] if before is None or e.event_id in fresh]
        after = fold(new, before) if new else before
        if after is not None and after != before:
            changed[order_id] = (before, after)
    if changed:
        now = clock()
        judge_at = batch_instant(conn, events, now, behind)
        instants = _instants(changed, judged, judge_at, now)
        times = (judged, dues, instants)
        _judge_orders(conn, changed, times, now, config, report, write_states=True)
    return report


def batch_instant(
    conn: psycopg.Connection[Any],
    events: Sequence[LifecycleEvent],
    now: datetime,
    behind: LowWater | None,
) -> datetime:
    """When to judge a batch's orders: now, or earlier if the batch was taken late (its newest
    event plus EVENT_GRACE) or the workers still hold older news (the low-water mark of the
    other busy processes and of this one's other messages, plus EVENT_GRACE): what happened
    since may still wait in the queue or in another message, and must not be concluded not to
    have happened."""
    instant = min(now, max(e.occurred_at for e in events) + EVENT_GRACE)
    if behind is None:
        return instant
    marks = [low_water_mark(conn, now, behind.quiet, behind.worker), behind.holding]
    held = [mark for mark in marks if mark is not None]
    return min(instant, min(held) + EVENT_GRACE) if held else instant


def _record_events(conn: psycopg.Connection[Any], events: Sequence[LifecycleEvent]) -> set[str]:
    """Record the batch's event ids; returns the ones not seen before."""
    params = {
        "event_ids": [e.event_id for e in events],
        "event_types": [e.type for e in events],
    }
    return {row[0] for row in conn.execute(queries.RECORD_ORDER_EVENTS, params)}


def _states(
    rows: Iterable[tuple[str, datetime | None, str | None, datetime | None]],
) -> tuple[dict[str, OrderState | None], dict[str, datetime | None], dict[str, datetime | None]]:
    """(state, instant last judged at, timer) of each order row."""
    states: dict[str, OrderState | None] = {}
    judged: dict[str, datetime | None] = {}
    dues: dict[str, datetime | None] = {}
    for order_id, judged_at, text, due in rows:
        states[order_id] = decode_state(text) if text else None
        judged[order_id], dues[order_id] = judged_at, due
    return states, judged, dues


def _instants(
    orders: Iterable[str], judged: Mapping[str, datetime | None], judge_at: datetime, now: datetime
) -> dict[str, datetime]:
    """The instant to judge each order at: `judge_at`, but never before the order was last
    judged (a batch taken late must not take back what a sweep concluded later on: the record
    would end and open again), and never after now. It may be before some of the order's own
    events (a late batch, news held elsewhere): the rules take that instant as now."""
    instants = {}
    for order_id in orders:
        last = judged.get(order_id)
        instants[order_id] = min(now, max(judge_at, last)) if last is not None else judge_at
    return instants


# ---------------------------------------------------------------- order timers


def sweep_orders(
    conn: psycopg.Connection[Any],
    instants: tuple[datetime, datetime],
    config: RulesConfig,
    limit: int,
) -> Report:
    """Judge up to `limit` orders whose timer is due at `instants[0]` (claimed with SKIP
    LOCKED), at that instant; records change at `instants[1]` (now). The two differ when the
    workers are behind (see `sweep_instants`)."""
    judge_at, now = instants
    params = {"now": judge_at, "limit": limit}
    stored, judged, dues = _states(conn.execute(queries.CLAIM_DUE_ORDERS, params))
    report = Report()
    states = {order_id: (state, state) for order_id, state in stored.items() if state is not None}
    if states:
        at = _instants(states, judged, judge_at, now)
        _judge_orders(conn, states, (judged, dues, at), now, config, report, write_states=False)
    return report


def sweep_instants(
    conn: psycopg.Connection[Any],
    now: datetime,
    messages_waiting: bool,
    quiet: timedelta,
    stalled: timedelta,
) -> tuple[datetime, datetime]:
    """(judge at, now) for a sweep. A timer says "nothing happened by T", true only once every
    event up to T has been read. While the workers are busy (a process applied a batch less
    than `quiet` ago, or messages wait in the queue), judge at their low-water mark plus
    EVENT_GRACE (`low_water_mark`), not later than now: events they hold (prefetched, waiting
    for a thread) or that wait in the queue are not "nothing". Idle workers, empty queue: now.

    However long a backlog lasts, the sweeps hold while the workers make progress: judging at
    now behind a backlog opens a false problem for every order whose news waits in it. Only
    messages that wait while nothing was applied for `stalled` (nobody reads the queue: a
    deploy gone wrong, a misconfigured WORKER_QUEUES) make the sweeps judge at now: late
    detection beats none."""
    marks = _watermarks(conn, now, stalled, quiet)
    live = [mark for mark, updated in marks if now - updated <= quiet]
    if not live and not (messages_waiting and marks):
        if messages_waiting:
            _warn_stalled()
        return now, now
    low = min(live or [mark for mark, _ in marks])
    return min(now, low + EVENT_GRACE), now


@dataclass(frozen=True)
class LowWater:
    """What a batch needs to know of the workers that may hold news older than its own: the
    process applying it (`worker`, its row is left out), the oldest event of that process's
    other messages in flight (`holding`), and how long a process stays busy after a write."""

    worker: str
    holding: datetime | None
    quiet: timedelta = DEFAULT_QUIET


_warned_at = -math.inf


def _warn_stalled(every_s: float = 60.0) -> None:
    """Say so, once a minute at most: messages wait and no worker applies any."""
    global _warned_at
    if time.monotonic() - _warned_at >= every_s:
        _warned_at = time.monotonic()
        logger.warning("lifecycle messages wait and no worker applied any: judging at now")


def low_water_mark(
    conn: psycopg.Connection[Any], now: datetime, quiet: timedelta, exclude: str = ""
) -> datetime | None:
    """The oldest watermark of the worker processes that wrote one within `quiet` (but
    `exclude`): every event older than it has been applied, give or take events that arrive
    late (EVENT_GRACE covers them). None when no process is busy."""
    live = [mark for mark, _ in _watermarks(conn, now, quiet, quiet, exclude)]
    return min(live, default=None)


def _watermarks(
    conn: psycopg.Connection[Any],
    now: datetime,
    window: timedelta,
    slack: timedelta,
    exclude: str = "",
) -> list[tuple[datetime, datetime]]:
    params = {"since": now - window, "until": now + slack, "exclude": exclude}
    return [(mark, updated) for mark, updated in conn.execute(queries.READ_WATERMARKS, params)]


def advance_watermark(
    conn: psycopg.Connection[Any], worker: str, mark: datetime, now: datetime
) -> None:
    """Store the watermark of the worker process `worker`, written at `now` (outside the batch
    transactions, so they never wait on it)."""
    conn.execute(queries.ADVANCE_WATERMARK, {"worker": worker, "mark": mark, "now": now})


# ---------------------------------------------------------------- judging orders


def _judge_orders(
    conn: psycopg.Connection[Any],
    orders: Mapping[str, tuple[OrderState | None, OrderState]],
    instants: tuple[
        Mapping[str, datetime | None], Mapping[str, datetime | None], Mapping[str, datetime]
    ],
    now: datetime,
    config: RulesConfig,
    report: Report,
    write_states: bool,
) -> None:
    """Judge each order through to its instant, from the instant it was last judged at, its
    timer included (`check_order_through`: as of each instant a verdict can change); records
    change at now."""
    starts, dues, ends = instants
    venues = {after.venue_id for _, after in orders.values() if after.venue_id is not None}
    live, venue_rules = _live(conn, list(orders), venues)
    steps: dict[str, tuple[Subject, tuple[Judgement, ...]]] = {}
    for order_id, (_, state) in orders.items():
        rules = venue_rules.get(state.venue_id, set()) if state.venue_id is not None else set()
        through = check_order_through(
            state,
            live.get(order_id, {}),
            rules,
            starts.get(order_id),
            ends[order_id],
            config,
            now,
            dues.get(order_id),
        )
        steps[order_id] = (Subject(order_id, state.venue_id, state.city_id), through)
    report.orders += len(steps)
    due = {order_id: through[-1].due_at for order_id, (_, through) in steps.items()}
    if write_states:
        _write_states(conn, orders, due, ends)
    else:
        params = {"order_ids": list(due), "due": list(due.values())}
        conn.execute(queries.SET_ORDER_TIMERS, {**params, "judged_at": list(ends.values())})
    judged = _write_steps(conn, list(steps.values()), now, report)
    _venue_inputs(conn, orders, judged)


def _write_steps(
    conn: psycopg.Connection[Any],
    steps: Sequence[tuple[Subject, tuple[Judgement, ...]]],
    now: datetime,
    report: Report,
) -> list[tuple[Subject, Judgement]]:
    """Write each order's judgements in order: round k holds every order's k-th (one round in
    the usual case). A record opened in one round goes by a placeholder id in the later ones
    of its order until then."""
    ids: dict[tuple[str | None, str], int] = {}
    written: list[tuple[Subject, Judgement]] = []
    for k in range(max((len(through) for _, through in steps), default=0)):
        batch = [(s, _resolve(through[k], s, ids)) for s, through in steps if k < len(through)]
        ids.update(write_judgements(conn, batch, now, report))
        written += batch
    return written


def _resolve(
    judgement: Judgement, subject: Subject, ids: Mapping[tuple[str | None, str], int]
) -> Judgement:
    """The judgement with the placeholder ids of records opened by earlier rounds replaced."""
    if not ids:
        return judgement

    def real(problem_id: int, rule: str) -> int:
        return ids[subject.order_id, rule] if problem_id < 0 else problem_id

    return replace(
        judgement,
        updated=tuple(replace(u, problem_id=real(u.problem_id, u.rule)) for u in judgement.updated),
        ended=tuple(replace(e, problem_id=real(e.problem_id, e.rule)) for e in judgement.ended),
    )


def _live(
    conn: psycopg.Connection[Any], order_ids: Sequence[str], venue_ids: Iterable[int]
) -> tuple[dict[str, dict[str, LiveProblem]], dict[int, set[str]]]:
    """Live records of the orders (by order, by rule), and the venue-level rules live on each
    venue (for inhibition)."""
    by_order: dict[str, dict[str, LiveProblem]] = defaultdict(dict)
    by_venue: dict[int, set[str]] = defaultdict(set)
    params = {"order_ids": list(order_ids), "venue_ids": sorted(venue_ids)}
    for row in conn.execute(queries.LIVE_PROBLEMS, params):
        problem_id, rule, order_id, venue_id, severity, muted, since, resolved = row
        if order_id is None:
            by_venue[venue_id].add(rule)
        else:
            by_order[order_id][rule] = LiveProblem(
                problem_id, rule, severity, muted, since, resolved
            )
    return by_order, by_venue


def _write_states(
    conn: psycopg.Connection[Any],
    orders: Mapping[str, tuple[OrderState | None, OrderState]],
    due: Mapping[str, datetime | None],
    instants: Mapping[str, datetime],
) -> None:
    states = [state for _, state in orders.values()]
    params = {
        "order_ids": list(orders),
        "states": [encode_state(state) for state in states],
        "last_sequences": [state.last_sequence for state in states],
        "venue_ids": [state.venue_id for state in states],
        "city_ids": [state.city_id for state in states],
        "known": [state.known for state in states],
        "terminal": [state.terminal for state in states],
        "due": [due[order_id] for order_id in orders],
        "judged_at": [instants[order_id] for order_id in orders],
    }
    conn.execute(queries.WRITE_ORDER_STATE, params)


def _venue_inputs(
    conn: psycopg.Connection[Any],
    orders: Mapping[str, tuple[OrderState | None, OrderState]],
    judged: Sequence[tuple[Subject, Judgement]],
) -> None:
    """Record the venues' decisions that changed, and mark the venues whose inputs changed."""
    outcomes: list[tuple[VenueOutcome, int]] = []
    touched: dict[int, int | None] = {}
    for before, after in orders.values():
        outcome = venue_outcome(after)
        if after.venue_id is None or outcome is None:
            continue
        if before is None or venue_outcome(before) != outcome:
            outcomes.append((outcome, after.venue_id))
            touched[after.venue_id] = after.city_id
    for subject, judgement in judged:
        rules = {o.rule for o in judgement.opened} | {e.rule for e in judgement.ended}
        if subject.venue_id is not None and rules & VENUE_INPUTS:
            touched[subject.venue_id] = subject.city_id
    if outcomes:
        rows = [
            {"order_id": o.order_id, "venue_id": venue, "at": o.at.isoformat(), "failed": o.failed}
            for o, venue in outcomes
        ]
        conn.execute(queries.UPSERT_VENUE_OUTCOMES, {"rows": json.dumps(rows)})
    if touched:
        log_venue_changes(conn, touched)


def log_venue_changes(conn: psycopg.Connection[Any], venues: Mapping[int, int | None]) -> None:
    venue_ids = sorted(venues)
    conn.execute(
        queries.LOG_VENUE_CHANGES,
        {"venue_ids": venue_ids, "city_ids": [venues[v] for v in venue_ids]},
    )


# ---------------------------------------------------------------- problem records


def write_judgements(
    conn: psycopg.Connection[Any],
    judged: Sequence[tuple[Subject, Judgement]],
    now: datetime,
    report: Report,
) -> dict[tuple[str | None, str], int]:
    """Open, update and end records as judged; every change worth it goes to the history.
    Returns the ids of the records opened, by (order id, rule)."""
    opened = [(s, o) for s, j in judged for o in j.opened]
    updated = [u for _, j in judged for u in j.updated]
    ended = [e for _, j in judged for e in j.ended]
    touched = sorted({u.problem_id for u in updated} | {e.problem_id for e in ended})
    if touched:
        conn.execute(queries.LOCK_PROBLEMS, {"problem_ids": touched})
    if ended:  # first: the same rule may open a new episode of the order in this round
        rows = [{"problem_id": e.problem_id, "how": e.how} for e in ended]
        cursor = conn.execute(queries.END_PROBLEMS, {"rows": json.dumps(rows), "now": now})
        report.resolved += [(rule, how) for rule, how in cursor]
    ids: dict[tuple[str | None, str], int] = {}
    if opened:
        ids = _open(conn, opened, now)
        report.opened += [(o.rule, (now - o.since).total_seconds()) for _, o in opened]
    if updated:
        _update(conn, updated, now)
    return ids


def _open(
    conn: psycopg.Connection[Any], opened: Sequence[tuple[Subject, Any]], now: datetime
) -> dict[tuple[str | None, str], int]:
    """Causes (and records nothing mutes) first, then the records they mute: a muted record
    names its cause's record, which must be there."""
    loud = [(s, o) for s, o in opened if o.muted_by is None]
    muted = [(s, o) for s, o in opened if o.muted_by is not None]
    ids: dict[tuple[str | None, str], int] = {}
    for part in (loud, muted):
        if part:
            ids.update(_insert(conn, part, now))
    return ids


def _insert(
    conn: psycopg.Connection[Any], opened: Sequence[tuple[Subject, Any]], now: datetime
) -> dict[tuple[str | None, str], int]:
    rows = [
        {
            "rule": o.rule,
            "order_id": s.order_id,
            "venue_id": s.venue_id,
            "city_id": s.city_id,
            "severity": o.severity,
            "muted": o.muted,
            "since": o.since.isoformat(),
            "details": o.details,
            "muted_by": o.muted_by,
            "as_of": (o.as_of or now).isoformat(),
        }
        for s, o in opened
    ]
    cursor = conn.execute(queries.OPEN_PROBLEMS, {"rows": json.dumps(rows), "now": now})
    return {(order_id, rule): problem_id for problem_id, order_id, rule in cursor}


def _update(conn: psycopg.Connection[Any], updated: Sequence[Any], now: datetime) -> None:
    rows = [
        {
            "problem_id": u.problem_id,
            "severity": u.severity,
            "muted": u.muted,
            "mute_changed": u.mute_changed,
            "details": u.details,
            "muted_by": u.muted_by,
        }
        for u in updated
    ]
    conn.execute(queries.SEE_PROBLEMS, {"rows": json.dumps(rows), "now": now})
    changes = [
        {
            "problem_id": u.problem_id,
            "change": change,
            "actor": "larder",
            "note": None,
            "details": {"severity": u.severity, "muted": u.muted}
            | ({"muted_by": u.muted_by} if u.muted_by else {}),
        }
        for u in updated
        for change in u.changes
    ]
    if changes:
        conn.execute(queries.LOG_PROBLEM_CHANGES, {"rows": json.dumps(changes), "now": now})


# ---------------------------------------------------------------- venues


def sweep_venues(
    conn: psycopg.Connection[Any],
    instants: tuple[datetime, datetime],
    config: RulesConfig,
    limit: int,
) -> Report:
    """Judge venue_struggling for venues whose inputs changed or whose timer is due, and mute
    or unmute their orders' records accordingly (instants as for `sweep_orders`)."""
    changed: dict[int, int | None] = {}
    for venue_id, city_id in conn.execute(queries.CLAIM_VENUE_CHANGES, {"limit": limit}):
        changed[venue_id] = city_id if city_id is not None else changed.get(venue_id)
    if changed:
        venue_ids = sorted(changed)
        cities = [changed[v] for v in venue_ids]
        conn.execute(queries.VENUE_PLACEHOLDERS, {"venue_ids": venue_ids, "city_ids": cities})
    params = {"venue_ids": sorted(changed), "now": instants[0], "limit": limit}
    venues = dict(conn.execute(queries.LOCK_VENUES, params).fetchall())
    skipped = {v: c for v, c in changed.items() if v not in venues}
    if skipped:  # another sweep holds them: let the next sweep see these changes
        log_venue_changes(conn, skipped)
    report = Report()
    if venues:
        _judge_venues(conn, venues, instants, config, report)
    return report


def _judge_venues(
    conn: psycopg.Connection[Any],
    venues: Mapping[int, int | None],
    instants: tuple[datetime, datetime],
    config: RulesConfig,
    report: Report,
) -> None:
    judge_at, now = instants
    venue_ids = sorted(venues)
    activity = _activity(conn, venue_ids, judge_at, config)
    live = _live_venue_problems(conn, venue_ids)
    judged = []
    for venue_id in venue_ids:
        city_id = venues[venue_id]
        judgement = check_venue(
            activity[venue_id], live.get(venue_id, {}), judge_at, config.for_city(city_id)
        )
        opened = tuple(replace(o, as_of=judge_at) for o in judgement.opened)
        judged.append((Subject(None, venue_id, city_id), replace(judgement, opened=opened)))
    report.orders += len(judged)
    write_judgements(conn, judged, now, report)
    due = [j.due_at for _, j in judged]
    conn.execute(queries.SET_VENUE_TIMERS, {"venue_ids": venue_ids, "due": due, "now": now})
    _inhibit(conn, judged, live, now)


def _activity(
    conn: psycopg.Connection[Any], venue_ids: Sequence[int], now: datetime, config: RulesConfig
) -> dict[int, VenueActivity]:
    """What the venue rules read (the rules table says what: `Rule.reads`, `Rule.lookback`)."""
    oldest = now - timedelta(minutes=lookback_minutes(config))
    outcomes: dict[int, list[VenueOutcome]] = defaultdict(list)
    params: dict[str, Any] = {"venue_ids": venue_ids, "oldest": oldest}
    for venue_id, order_id, at, failed in conn.execute(queries.VENUE_OUTCOMES, params):
        outcomes[venue_id].append(VenueOutcome(order_id, at, failed))
    live: dict[int, dict[str, dict[str, datetime]]] = defaultdict(lambda: defaultdict(dict))
    for rule in sorted(VENUE_INPUTS):
        params = {"venue_ids": venue_ids, "rule": rule}
        for venue_id, order_id, since in conn.execute(queries.VENUE_ORDERS_WITH, params):
            live[venue_id][rule][order_id] = since
    return {
        v: VenueActivity(v, tuple(outcomes.get(v, ())), {r: dict(o) for r, o in live[v].items()})
        for v in venue_ids
    }


def _live_venue_problems(
    conn: psycopg.Connection[Any], venue_ids: Sequence[int]
) -> dict[int, dict[str, LiveProblem]]:
    live: dict[int, dict[str, LiveProblem]] = defaultdict(dict)
    params = {"order_ids": [], "venue_ids": list(venue_ids)}
    for row in conn.execute(queries.LIVE_PROBLEMS, params):
        problem_id, rule, _, venue_id, severity, muted, since, resolved = row
        live[venue_id][rule] = LiveProblem(problem_id, rule, severity, muted, since, resolved)
    return live


def _inhibit(
    conn: psycopg.Connection[Any],
    judged: Sequence[tuple[Subject, Judgement]],
    live_before: Mapping[int, Mapping[str, LiveProblem]],
    now: datetime,
) -> None:
    """Mute the per-order records inhibited by each venue's live venue-level problems, and
    unmute them on venues where none is live any more."""
    live_after: dict[int, set[str]] = {}
    for subject, judgement in judged:
        assert subject.venue_id is not None
        rules = set(live_before.get(subject.venue_id, {}))
        rules |= {o.rule for o in judgement.opened}
        live_after[subject.venue_id] = rules - {e.rule for e in judgement.ended}
    for rule in sorted(frozenset().union(*VENUE_INHIBITS.values())):
        by = sorted(venue_rule for venue_rule, muted in VENUE_INHIBITS.items() if rule in muted)
        mute = [v for v, rules in sorted(live_after.items()) if rule in muted_rules(rules)]
        unmute = [v for v in sorted(live_after) if v not in mute]
        for venue_ids, muted in ((mute, True), (unmute, False)):
            if venue_ids:
                _set_muted(conn, venue_ids, rule, muted, by, now)


def _set_muted(
    conn: psycopg.Connection[Any],
    venue_ids: Sequence[int],
    rule: str,
    muted: bool,
    by: Sequence[str],
    now: datetime,
) -> None:
    params = {"venue_ids": list(venue_ids), "rules": [rule], "now": now, "muted": muted}
    conn.execute(queries.LOCK_VENUE_ORDER_PROBLEMS, params)
    conn.execute(
        queries.SET_MUTED,
        {**params, "muted_by": json.dumps({"muted_by": list(by)}), "cause": by[0]},
    )


# ---------------------------------------------------------------- housekeeping and reports


def prune(database: Database, older_than_days: int, now: datetime, chunk: int = 10_000) -> int:
    """Forget finished orders, orders never created, and venue decisions older than the
    retention, and the watermarks of worker processes gone for a day; returns how many rows."""
    days = {"days": older_than_days}
    return (
        database.delete_in_chunks(queries.PRUNE_FINISHED_ORDERS, days, chunk)
        + database.delete_in_chunks(queries.PRUNE_VENUE_OUTCOMES, {**days, "now": now}, chunk)
        + database.delete_in_chunks(queries.PRUNE_WATERMARKS, {"now": now}, chunk)
    )


def open_problem_counts(conn: psycopg.Connection[Any]) -> list[tuple[str, int, int]]:
    """(rule, loud, muted) records open now, per rule."""
    return [(rule, loud, quiet) for rule, loud, quiet in conn.execute(queries.OPEN_PROBLEM_COUNTS)]


def run_problems(
    conn: psycopg.Connection[Any], order_pattern: str, venues: tuple[int, int]
) -> list[tuple[Any, ...]]:
    """(rule, order_id, venue_id, since, opened_at, problem_id) of every record of a
    simulation run: its orders (ids matching `order_pattern`) and its venues' venue-level
    rules."""
    params = {"orders": order_pattern, "low": venues[0], "high": venues[1]}
    return conn.execute(queries.SIMULATED_PROBLEMS, params).fetchall()


def run_problem_history(
    conn: psycopg.Connection[Any], order_pattern: str, venues: tuple[int, int]
) -> list[tuple[Any, ...]]:
    """(problem_id, at, change, muted, muted_by) of the history of a run's records, in order
    (`muted`, `muted_by`: as written at opening and at mute changes)."""
    params = {"orders": order_pattern, "low": venues[0], "high": venues[1]}
    return conn.execute(queries.SIMULATED_PROBLEM_HISTORY, params).fetchall()
