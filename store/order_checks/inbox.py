"""The support inbox: list problem records and act on them (the console, HTTP and `larder inbox`).

Every action names the record's `version` the agent saw; it applies only if the record is still
at that version (then bumps it) and in a state the action applies to. Otherwise the caller gets
`StaleVersion` (someone else changed it: the current record says how) or `ProblemConflict` (it
does not apply: already resolved, already acknowledged), each carrying the current record, so
two agents acting at once never lose an update. Each action writes a history row naming the
agent. Run actions in a transaction (`database.unit_of_work()`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from domain.order_checks.rules import BY_NAME
from domain.order_checks.thresholds import RulesConfig
from domain.order_checks.timeline import timeline
from schemas.order_checks import Problem, ProblemChange
from store.order_checks import decode_state, queries

STATES = ("open", "acknowledged", "silenced", "resolved")


class UnknownProblem(LookupError):
    pass


class ProblemConflict(ValueError):
    """The action does not apply to the record as it is (already resolved, acknowledged)."""

    def __init__(self, message: str, current: Problem) -> None:
        super().__init__(message)
        self.current = current


class StaleVersion(ProblemConflict):
    """The record changed since the agent saw it."""


@dataclass(frozen=True)
class Filters:
    """What to list: `state` one of STATES (None: every record), city, rule, assignee ('' for
    nobody), at most `limit`, newest first or (`by_severity`) critical then oldest first;
    with `cards`, one entry per cause: records muted under a listed cause are attached to it
    (`symptoms`) instead of listed."""

    state: str | None = "open"
    city_id: int | None = None
    rule: str | None = None
    assignee: str | None = None
    limit: int = 100
    by_severity: bool = False
    cards: bool = False


def list_problems(conn: psycopg.Connection[Any], filters: Filters, now: datetime) -> list[Problem]:
    """The records `filters` selects, as of `now` (silences)."""
    params = {
        "state": filters.state,
        "city_id": filters.city_id,
        "rule": filters.rule,
        "assignee": filters.assignee,
        "limit": filters.limit,
        "now": now,
    }
    query = queries.INBOX_BY_SEVERITY if filters.by_severity else queries.INBOX
    with conn.cursor(row_factory=dict_row) as cursor:
        listed = [Problem(**row) for row in cursor.execute(query, params)]
    status = STATUS_OF.get(filters.state or "all")
    return as_cards(conn, listed, status) if filters.cards else listed


# The records' status a listed state selects (symptoms are attached whatever their state).
STATUS_OF = {"open": "open", "acknowledged": "open", "silenced": "open", "resolved": "resolved"}


def as_cards(
    conn: psycopg.Connection[Any], listed: list[Problem], status: str | None
) -> list[Problem]:
    """The records as cards: each cause with its muted records attached (whether the filter
    listed them or not), and no record listed twice."""
    params = {"cause_ids": [p.problem_id for p in listed], "status": status}
    symptoms: dict[int, list[Problem]] = {}
    with conn.cursor(row_factory=dict_row) as cursor:
        for row in cursor.execute(queries.PROBLEM_SYMPTOMS, params):
            symptom = Problem(**row)
            symptoms.setdefault(symptom.cause_problem_id or 0, []).append(symptom)
    attached = {s.problem_id for group in symptoms.values() for s in group}
    return [
        p.model_copy(update={"symptoms": symptoms.get(p.problem_id, [])})
        for p in listed
        if p.problem_id not in attached
    ]


def get_problem(conn: psycopg.Connection[Any], problem_id: int) -> Problem:
    """One record with its history and its rule's explanation."""
    with conn.cursor(row_factory=dict_row) as cursor:
        row = cursor.execute(queries.PROBLEM_BY_ID, {"problem_id": problem_id}).fetchone()
        if row is None:
            raise UnknownProblem(f"no problem {problem_id}")
        changes = cursor.execute(queries.PROBLEM_HISTORY, {"problem_id": problem_id}).fetchall()
    rule = BY_NAME.get(row["rule"])
    return Problem(
        **row,
        history=[ProblemChange(**change) for change in changes],
        explanation=rule.explanation if rule else None,
    )


def get_detail(
    conn: psycopg.Connection[Any], problem_id: int, config: RulesConfig, now: datetime
) -> Problem:
    """One record as `get_problem`, plus its order's timeline (what happened, what should
    have by when) while the order's state is kept."""
    found = get_problem(conn, problem_id)
    if found.order_id is None:
        return found
    row = conn.execute(queries.ORDER_STATE, {"order_id": found.order_id}).fetchone()
    if row is None or row[0] is None:
        return found
    state = decode_state(row[0])
    steps = timeline(state, config.for_city(state.city_id), now)
    return found.model_copy(update={"timeline": steps})


# ---------------------------------------------------------------- actions


@dataclass(frozen=True)
class Act:
    """An agent's action on the record at `version`: `agent` is who acts (the authenticated
    principal), `note` optional free text (kept in the history, never logged)."""

    problem_id: int
    version: int
    agent: str
    now: datetime
    note: str | None = None


Action = Callable[..., Problem]


def acknowledge(conn: psycopg.Connection[Any], act: Act) -> Problem:
    """The agent takes the record on (and is assigned it, unless someone already is)."""
    return _apply(conn, act, queries.ACKNOWLEDGE_PROBLEM, "acknowledged", {})


def assign(conn: psycopg.Connection[Any], act: Act, assignee: str) -> Problem:
    """The record is assigned to `assignee` (by `act.agent`)."""
    return _apply(conn, act, queries.ASSIGN_PROBLEM, "assigned", {"assignee": assignee})


def add_note(conn: psycopg.Connection[Any], act: Act) -> Problem:
    """A note in the record's history (any record, resolved ones too)."""
    return _apply(conn, act, queries.NOTE_PROBLEM, "noted", {})


def silence(conn: psycopg.Connection[Any], act: Act, minutes: int) -> Problem:
    """Hide the record for `minutes`; if the trouble outlasts the silence, the record ends and
    the checks open a new one (`expire_silences`)."""
    until = act.now + timedelta(minutes=minutes)
    return _apply(conn, act, queries.SILENCE_PROBLEM, "silenced", {"until": until})


def resolve(conn: psycopg.Connection[Any], act: Act) -> Problem:
    """The agent closes the record. The checks keep watching: the same trouble opens a new
    record only after its condition has cleared."""
    return _apply(conn, act, queries.RESOLVE_PROBLEM, "resolved", {})


def _apply(
    conn: psycopg.Connection[Any],
    act: Act,
    query: str,
    change: str,
    extra: Mapping[str, Any],
) -> Problem:
    params = {
        "problem_id": act.problem_id,
        "version": act.version,
        "agent": act.agent,
        "now": act.now,
        **extra,
    }
    if conn.execute(query, params).fetchone() is None:
        raise _refusal(conn, act, change)
    details = {key: _json(value) for key, value in extra.items()} or None
    log = {**params, "change": change, "note": act.note, "details": _dumps(details)}
    conn.execute(queries.LOG_AGENT_ACTION, log)
    return get_problem(conn, act.problem_id)


def _refusal(conn: psycopg.Connection[Any], act: Act, change: str) -> ProblemConflict:
    """Why the action did not apply (UnknownProblem raised here), with the record as it is."""
    current = get_problem(conn, act.problem_id)
    if current.version != act.version:
        last = (current.history or [])[-1:]
        how = f": {last[0].change} by {last[0].actor} at {last[0].at:%H:%M:%S}" if last else ""
        return StaleVersion(
            f"problem {act.problem_id} changed since you saw it (version {act.version}, now "
            f"{current.version}{how}); nothing was {change}: look again and retry",
            current,
        )
    if current.resolved_at is not None:
        return ProblemConflict(f"problem {act.problem_id} is already resolved", current)
    return ProblemConflict(
        f"problem {act.problem_id} is already acknowledged by {current.acknowledged_by}", current
    )


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _dumps(details: Mapping[str, Any] | None) -> str | None:
    return json.dumps(details) if details else None


# ---------------------------------------------------------------- silences


def expire_silences(conn: psycopg.Connection[Any], now: datetime, limit: int = 1000) -> int:
    """End the records whose silence ran out while their trouble lasts (the checks still hold
    it true: the record's episode has not ended), open a new record of the same trouble for
    each (its `since` kept: not a new detection), and make their orders (venues) due now, so
    the next sweep judges them afresh; returns how many. Run in a transaction; rows are locked
    in the checks' order (orders, venues, records)."""
    expired = conn.execute(queries.EXPIRED_SILENCES, {"now": now, "limit": limit}).fetchall()
    if not expired:
        return 0
    problem_ids = [problem_id for problem_id, _, _ in expired]
    order_ids = sorted({order_id for _, order_id, _ in expired if order_id is not None})
    venue_ids = sorted({venue for _, order_id, venue in expired if order_id is None})
    conn.execute(queries.LOCK_ORDER_ROWS, {"order_ids": order_ids})
    conn.execute(queries.LOCK_VENUE_ROWS, {"venue_ids": venue_ids})
    conn.execute(queries.LOCK_PROBLEMS, {"problem_ids": problem_ids})
    ended = conn.execute(queries.END_SILENCES, {"problem_ids": problem_ids, "now": now})
    reopen = sorted(problem_id for (problem_id,) in ended)
    conn.execute(queries.REOPEN_SILENCED, {"problem_ids": reopen, "now": now})
    conn.execute(queries.ORDERS_DUE_NOW, {"order_ids": order_ids, "now": now})
    conn.execute(queries.VENUES_DUE_NOW, {"venue_ids": venue_ids, "now": now})
    return len(reopen)
