"""The support inbox: list problem records, acknowledge and resolve them (CLI and HTTP)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from schemas.order_checks import Problem, ProblemChange
from store.order_checks import queries

Action = Callable[[psycopg.Connection[Any], int, str, str | None, datetime], Problem]


class UnknownProblem(LookupError):
    pass


class ProblemConflict(ValueError):
    """The action does not apply to the record as it is (already resolved, acknowledged)."""


def list_problems(
    conn: psycopg.Connection[Any],
    status: str | None = "open",
    city_id: int | None = None,
    rule: str | None = None,
    limit: int = 100,
    cards: bool = False,
) -> list[Problem]:
    """Newest first; `status` None lists every record. With `cards`, one entry per cause:
    records muted under a listed cause are attached to it (`symptoms`) instead of listed."""
    params = {"status": status, "city_id": city_id, "rule": rule, "limit": limit}
    with conn.cursor(row_factory=dict_row) as cursor:
        listed = [Problem(**row) for row in cursor.execute(queries.INBOX, params)]
    return as_cards(conn, listed, status) if cards else listed


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
    """One record with its history."""
    with conn.cursor(row_factory=dict_row) as cursor:
        row = cursor.execute(queries.PROBLEM_BY_ID, {"problem_id": problem_id}).fetchone()
        if row is None:
            raise UnknownProblem(f"no problem {problem_id}")
        changes = cursor.execute(queries.PROBLEM_HISTORY, {"problem_id": problem_id}).fetchall()
    return Problem(**row, history=[ProblemChange(**change) for change in changes])


def acknowledge(
    conn: psycopg.Connection[Any], problem_id: int, agent: str, note: str | None, now: datetime
) -> Problem:
    """An agent takes the record on; run in a transaction."""
    params = {"problem_id": problem_id, "agent": agent, "now": now}
    if conn.execute(queries.ACKNOWLEDGE_PROBLEM, params).fetchone() is None:
        current = get_problem(conn, problem_id)
        if current.resolved_at is not None:
            raise ProblemConflict(f"problem {problem_id} is already resolved")
        raise ProblemConflict(
            f"problem {problem_id} is already acknowledged by {current.acknowledged_by}"
        )
    conn.execute(queries.LOG_AGENT_ACTION, {**params, "change": "acknowledged", "note": note})
    return get_problem(conn, problem_id)


def resolve(
    conn: psycopg.Connection[Any], problem_id: int, agent: str, note: str | None, now: datetime
) -> Problem:
    """An agent closes the record; run in a transaction. The checks keep watching: the same
    trouble opens a new record only after its condition has cleared."""
    params = {"problem_id": problem_id, "agent": agent, "now": now}
    if conn.execute(queries.RESOLVE_PROBLEM, params).fetchone() is None:
        get_problem(conn, problem_id)  # unknown: raises
        raise ProblemConflict(f"problem {problem_id} is already resolved")
    conn.execute(queries.LOG_AGENT_ACTION, {**params, "change": "resolved", "note": note})
    return get_problem(conn, problem_id)
