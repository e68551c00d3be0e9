"""The support inbox over HTTP: the same records and actions as `larder order-checks inbox`.

    GET  /v1/inbox?status=open&city=&rule=&limit=     problem records, newest first
    GET  /v1/inbox/{problem_id}                       one record with its history
    POST /v1/inbox/{problem_id}/ack      {"note": "..."}
    POST /v1/inbox/{problem_id}/resolve  {"note": "..."}

Reading needs an API key with the scope inbox:read, acting one with inbox:act; the agent an
action records is the key's principal, never a name in the body.
Mount it with `app.include_router(inbox_router(database))` on an app whose `state.access` is
its access policy (programs/http/security.py). Endpoints are plain `def` (the
blocking psycopg pool runs on FastAPI's thread pool). Acting on a record that is already
resolved (or acknowledging one twice) is 409; an unknown id is 404.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi import Path as PathParam

from programs.http.security import ActsOnInbox, Principal, ReadsInbox, errors
from schemas.base import StrictModel
from schemas.order_checks import Note, Problem
from store.db import Database
from store.order_checks import inbox
from workers import clock

MAX_ID = 2**63 - 1
ProblemId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="The problem record's id.")]

ERRORS: dict[int | str, dict[str, Any]] = {
    **errors(
        401,
        403,
        429,
        e404="No such problem record.",
        e409="The record is already resolved (or, for ack, acknowledged).",
    ),
    422: {"description": "Bad parameters (the `detail` list says which and why)."},
}


class ActionNote(StrictModel):
    """An agent's action on a record: who acts is the API key's principal."""

    note: Note | None = None


def inbox_router(database: Database) -> APIRouter:
    router = APIRouter(prefix="/v1/inbox", tags=["inbox"])

    @router.get("", response_model=list[Problem], responses=ERRORS)
    def list_problems(
        agent: ReadsInbox,
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
    def get_problem(problem_id: ProblemId, agent: ReadsInbox) -> Problem:
        """One record with its history."""
        with database.unit_of_work() as uow:
            try:
                return inbox.get_problem(uow.connection, problem_id)
            except inbox.UnknownProblem as error:
                raise HTTPException(404, str(error)) from None

    @router.post("/{problem_id}/ack", response_model=Problem, responses=ERRORS)
    def acknowledge(problem_id: ProblemId, agent: ActsOnInbox, action: ActionNote) -> Problem:
        """An agent takes the record on."""
        return _act(database, inbox.acknowledge, problem_id, agent, action)

    @router.post("/{problem_id}/resolve", response_model=Problem, responses=ERRORS)
    def resolve(problem_id: ProblemId, agent: ActsOnInbox, action: ActionNote) -> Problem:
        """An agent closes the record; the same trouble opens a new record only after its
        condition has cleared."""
        return _act(database, inbox.resolve, problem_id, agent, action)

    return router


def _act(
    database: Database, act: inbox.Action, problem_id: int, agent: Principal, action: ActionNote
) -> Problem:
    try:
        with database.unit_of_work() as uow:
            return act(uow.connection, problem_id, agent.name, action.note, clock.now())
    except inbox.UnknownProblem as error:
        raise HTTPException(404, str(error)) from None
    except inbox.ProblemConflict as error:
        raise HTTPException(409, str(error)) from None
