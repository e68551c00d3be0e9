"""The support inbox over HTTP: the same records and actions as `larder order-checks inbox`.

    GET  /v1/inbox?status=open&city=&rule=&limit=     problem records, newest first
    GET  /v1/inbox/{problem_id}                       one record with its history
    POST /v1/inbox/{problem_id}/ack      {"agent": "...", "note": "..."}
    POST /v1/inbox/{problem_id}/resolve  {"agent": "...", "note": "..."}

Mount it with `app.include_router(inbox_router(database))`. Endpoints are plain `def` (the
blocking psycopg pool runs on FastAPI's thread pool). Acting on a record that is already
resolved (or acknowledging one twice) is 409; an unknown id is 404.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi import Path as PathParam

from schemas.order_checks import AgentAction, Problem
from store.db import Database
from store.order_checks import inbox
from workers import clock

MAX_ID = 2**63 - 1
ProblemId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="The problem record's id.")]

ERRORS: dict[int | str, dict[str, str]] = {
    404: {"description": "No such problem record."},
    409: {"description": "The record is already resolved (or, for ack, acknowledged)."},
    422: {"description": "Bad parameters (the `detail` list says which and why)."},
}


def inbox_router(database: Database) -> APIRouter:
    router = APIRouter(prefix="/v1/inbox", tags=["inbox"])

    @router.get("", response_model=list[Problem])
    def list_problems(
        status: Annotated[
            Literal["open", "resolved", "all"],
            Query(description="open includes acknowledged records."),
        ] = "open",
        city: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
        rule: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[Problem]:
        """Problem records, newest first."""
        with database.unit_of_work(single_statement=True) as uow:
            return inbox.list_problems(
                uow.connection, None if status == "all" else status, city, rule, limit
            )

    @router.get("/{problem_id}", response_model=Problem, responses=ERRORS)
    def get_problem(problem_id: ProblemId) -> Problem:
        """One record with its history."""
        with database.unit_of_work() as uow:
            try:
                return inbox.get_problem(uow.connection, problem_id)
            except inbox.UnknownProblem as error:
                raise HTTPException(404, str(error)) from None

    @router.post("/{problem_id}/ack", response_model=Problem, responses=ERRORS)
    def acknowledge(problem_id: ProblemId, action: AgentAction) -> Problem:
        """An agent takes the record on."""
        return _act(database, inbox.acknowledge, problem_id, action)

    @router.post("/{problem_id}/resolve", response_model=Problem, responses=ERRORS)
    def resolve(problem_id: ProblemId, action: AgentAction) -> Problem:
        """An agent closes the record; the same trouble opens a new record only after its
        condition has cleared."""
        return _act(database, inbox.resolve, problem_id, action)

    return router


def _act(database: Database, act: inbox.Action, problem_id: int, action: AgentAction) -> Problem:
    try:
        with database.unit_of_work() as uow:
            return act(uow.connection, problem_id, action.agent, action.note, clock.now())
    except inbox.UnknownProblem as error:
        raise HTTPException(404, str(error)) from None
    except inbox.ProblemConflict as error:
        raise HTTPException(409, str(error)) from None
