"""The support inbox over HTTP: the records and actions of the console (`/inbox`) and of
`larder inbox`.

    GET  /v1/inbox?status=open&city=&rule=&assignee=&order=newest&limit=   records
    GET  /v1/inbox/rules                                the rules, with their explanations
    GET  /v1/inbox/{problem_id}                         one record: history, explanation, timeline
    POST /v1/inbox/{problem_id}/ack       {"version": 3, "note": "..."}
    POST /v1/inbox/{problem_id}/assign    {"version": 3, "assignee": "alice", "note": "..."}
    POST /v1/inbox/{problem_id}/note      {"version": 3, "note": "..."}
    POST /v1/inbox/{problem_id}/silence   {"version": 3, "minutes": 30, "note": "..."}
    POST /v1/inbox/{problem_id}/resolve   {"version": 3, "note": "..."}

Reading needs an API key with the scope inbox:read, acting one with inbox:act; the agent an
action records is the key's principal, never a name in the body. Every action carries the
record's `version` the agent saw: if the record changed since (another agent, the checks
ending it), the action is refused with 409 and the current record (`{"detail", "current"}`),
never applied over a change the agent has not seen. 409 too for an action that does not apply
(resolving a resolved record, acknowledging twice); an unknown id is 404.

Mount it with `app.include_router(inbox_router(database, rules))` on an app whose
`state.access` is its access policy (programs/http/security.py). Endpoints are plain `def` (the
blocking psycopg pool runs on FastAPI's thread pool).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from prometheus_client import Histogram
from pydantic import BaseModel, Field

from domain.order_checks.rules import RULES
from domain.order_checks.thresholds import RulesConfig
from programs.http.security import ActsOnInbox, Principal, ReadsInbox, errors
from schemas.base import StrictModel
from schemas.order_checks import AgentName, Note, Problem, SilenceMinutes
from store.db import Database
from store.order_checks import inbox
from workers import clock

MAX_ID = 2**63 - 1
ProblemId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="The problem record's id.")]
Version = Annotated[
    int, Field(ge=1, le=MAX_ID, description="The record's `version` the agent saw.")
]

# Minutes from a record opening to an agent acknowledging / resolving it, per rule: how fast
# support reacts (the checks' own resolutions are larder_problems_resolved_total).
_AGENT_BUCKETS = (30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0)
TIME_TO_ACKNOWLEDGE = Histogram(
    "larder_inbox_time_to_acknowledge_seconds",
    "From a problem record opening to an agent acknowledging it, by rule (real seconds).",
    ["rule"],
    buckets=_AGENT_BUCKETS,
)
TIME_TO_RESOLVE = Histogram(
    "larder_inbox_time_to_resolve_seconds",
    "From a problem record opening to an agent resolving it, by rule (real seconds).",
    ["rule"],
    buckets=_AGENT_BUCKETS,
)


class ConflictOut(BaseModel):
    """The action was refused: `detail` says why, `current` is the record as it is now."""

    detail: str
    current: Problem


READ_ERRORS: dict[int | str, dict[str, Any]] = {
    **errors(401, 403, 429, e404="No such problem record."),
    422: {"description": "Bad parameters (the `detail` list says which and why)."},
}
ERRORS: dict[int | str, dict[str, Any]] = {
    **READ_ERRORS,
    409: {
        "model": ConflictOut,
        "description": "The record changed since the agent saw `version`, or the action does "
        "not apply to it (already resolved; for ack, already acknowledged). `current` is the "
        "record now.",
    },
}


class ActionIn(StrictModel):
    """An agent's action on a record: who acts is the API key's principal."""

    version: Version
    note: Note | None = None


class AssignIn(ActionIn):
    assignee: AgentName = Field(description="The agent the record goes to.")


class NoteIn(ActionIn):
    note: Note = Field(min_length=1)


class SilenceIn(ActionIn):
    minutes: SilenceMinutes = Field(
        description="Hide the record this long; if the trouble outlasts it, a new record opens."
    )


class RuleOut(BaseModel):
    name: str
    level: Literal["order", "venue"]
    explanation: str
    mutes: list[str]


def inbox_router(database: Database, rules: Callable[[], RulesConfig] = RulesConfig) -> APIRouter:
    """The inbox endpoints on `database`; `rules()` the thresholds the timelines show."""
    router = APIRouter(prefix="/v1/inbox", tags=["inbox"])

    @router.get("", response_model=list[Problem], responses=READ_ERRORS)
    def list_problems(
        agent: ReadsInbox,
        status: Annotated[
            Literal["open", "acknowledged", "silenced", "resolved", "all"],
            Query(
                description="open: not resolved nor silenced now (acknowledged or not); "
                "acknowledged: open and acknowledged; silenced: silenced now; resolved; all."
            ),
        ] = "open",
        city: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
        rule: Annotated[str | None, Query(max_length=64)] = None,
        assignee: Annotated[
            str | None, Query(max_length=100, description="An agent; empty: nobody's.")
        ] = None,
        order: Annotated[
            Literal["newest", "severity"],
            Query(description="newest first, or critical first then oldest trouble first."),
        ] = "newest",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[Problem]:
        """Problem records."""
        filters = inbox.Filters(
            None if status == "all" else status, city, rule, assignee, limit, order == "severity"
        )
        with database.unit_of_work(single_statement=True) as uow:
            return inbox.list_problems(uow.connection, filters, clock.now())

    @router.get("/rules", response_model=list[RuleOut], responses=READ_ERRORS)
    def list_rules(agent: ReadsInbox) -> list[RuleOut]:
        """The rules, in words (the rules table: docs/order-checks.md)."""
        return [
            RuleOut(name=r.name, level=r.level, explanation=r.explanation, mutes=sorted(r.mutes))
            for r in RULES
        ]

    @router.get("/{problem_id}", response_model=Problem, responses=READ_ERRORS)
    def get_problem(problem_id: ProblemId, agent: ReadsInbox) -> Problem:
        """One record with its history, its rule's explanation and its order's timeline."""
        with database.unit_of_work() as uow:
            try:
                return inbox.get_detail(uow.connection, problem_id, rules(), clock.now())
            except inbox.UnknownProblem as error:
                raise HTTPException(404, str(error)) from None

    @router.post("/{problem_id}/ack", response_model=Problem, responses=ERRORS)
    def acknowledge(problem_id: ProblemId, agent: ActsOnInbox, action: ActionIn) -> Any:
        """An agent takes the record on (and is assigned it, unless someone already is)."""
        return _act(database, problem_id, agent, action, inbox.acknowledge)

    @router.post("/{problem_id}/assign", response_model=Problem, responses=ERRORS)
    def assign(problem_id: ProblemId, agent: ActsOnInbox, action: AssignIn) -> Any:
        """The record goes to an agent."""
        return _act(database, problem_id, agent, action, inbox.assign, action.assignee)

    @router.post("/{problem_id}/note", response_model=Problem, responses=ERRORS)
    def note(problem_id: ProblemId, agent: ActsOnInbox, action: NoteIn) -> Any:
        """A note in the record's history."""
        return _act(database, problem_id, agent, action, inbox.add_note)

    @router.post("/{problem_id}/silence", response_model=Problem, responses=ERRORS)
    def silence(problem_id: ProblemId, agent: ActsOnInbox, action: SilenceIn) -> Any:
        """Hide the record for a while; if the trouble outlasts it, a new record opens."""
        return _act(database, problem_id, agent, action, inbox.silence, action.minutes)

    @router.post("/{problem_id}/resolve", response_model=Problem, responses=ERRORS)
    def resolve(problem_id: ProblemId, agent: ActsOnInbox, action: ActionIn) -> Any:
        """An agent closes the record; the same trouble opens a new record only after its
        condition has cleared."""
        return _act(database, problem_id, agent, action, inbox.resolve)

    return router


def _act(
    database: Database,
    problem_id: int,
    agent: Principal,
    action: ActionIn,
    act: inbox.Action,
    *args: Any,
) -> Any:
    """Apply one action in its own transaction; 404, or 409 with the current record."""
    done = inbox.Act(problem_id, action.version, agent.name, clock.now(), action.note)
    try:
        with database.unit_of_work() as uow:
            found = act(uow.connection, done, *args)
    except inbox.UnknownProblem as error:
        raise HTTPException(404, str(error)) from None
    except inbox.ProblemConflict as error:
        body = ConflictOut(detail=str(error), current=error.current)
        return JSONResponse(body.model_dump(mode="json"), status_code=409)
    observe(act, found)
    return found


def observe(act: inbox.Action, found: Problem) -> None:
    """Time to acknowledge / resolve, in real seconds (a simulation's clock runs faster)."""
    histogram = {inbox.acknowledge: TIME_TO_ACKNOWLEDGE, inbox.resolve: TIME_TO_RESOLVE}.get(act)
    at = found.acknowledged_at if act is inbox.acknowledge else found.resolved_at
    if histogram is not None and at is not None:
        seconds = (at - found.opened_at).total_seconds() / clock.current().speed
        histogram.labels(found.rule).observe(max(0.0, seconds))
