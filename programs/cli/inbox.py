"""`larder inbox`: the support inbox of the order-problem checks from a terminal (the same
records and actions as the console at `/inbox` and `/v1/inbox`)."""

from __future__ import annotations

import json
from typing import Any

import click

STATUSES = ["open", "acknowledged", "silenced", "resolved", "all"]


@click.group("inbox")
def inbox() -> None:
    """The support inbox: problem records, and agents' actions on them."""


@inbox.command("list")
@click.option(
    "--status",
    default="open",
    show_default=True,
    type=click.Choice(STATUSES),
    help="open: not resolved nor silenced (acknowledged or not).",
)
@click.option("--city", "city_id", type=click.IntRange(1), help="Only this city's problems.")
@click.option("--rule", help="Only this rule's problems.")
@click.option("--assignee", help="Only this agent's problems ('' for nobody's).")
@click.option("--by-severity", is_flag=True, help="Critical first, then the oldest trouble.")
@click.option(
    "--cards", is_flag=True, help="One entry per cause: its muted records shown under it."
)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True)
def list_problems(
    status: str,
    city_id: int | None,
    rule: str | None,
    assignee: str | None,
    by_severity: bool,
    cards: bool,
    limit: int,
    as_json: bool,
) -> None:
    """Problem records, newest first (then: show, ack, assign, note, silence, resolve)."""
    from store.order_checks import inbox as records
    from workers import clock
    from workers.broker import database

    state = None if status == "all" else status
    filters = records.Filters(state, city_id, rule, assignee, limit, by_severity, cards)
    with database.unit_of_work(single_statement=True) as uow:
        found = records.list_problems(uow.connection, filters, clock.now())
    if as_json:
        click.echo(json.dumps([p.model_dump(mode="json") for p in found], indent=2))
        return
    for problem in found:
        click.echo(problem_line(problem))
        for symptom in problem.symptoms or ():
            click.echo("  under it: " + problem_line(symptom).replace("\n", "\n  "))
    if not found:
        click.echo(f"no {'' if status == 'all' else status + ' '}problems")


def problem_line(problem: Any) -> str:
    subject = (
        f"order {problem.order_id} (venue {problem.venue_id}, city {problem.city_id})"
        if problem.order_id
        else f"venue {problem.venue_id} (city {problem.city_id})"
    )
    flags = [f"ack by {problem.acknowledged_by}"] if problem.acknowledged_by else []
    flags += [f"assigned to {problem.assigned_to}"] if problem.assigned_to else []
    flags += [f"silenced until {problem.silenced_until:%H:%M:%S}"] if problem.silenced_until else []
    flags += [f"muted by {problem.muted_by or 'a cause'}"] if problem.muted else []
    flags += [f"resolved ({problem.resolution})"] if problem.resolved_at else []
    facts = ", ".join(
        f"{key}={value}" for key, value in problem.details.items() if not isinstance(value, list)
    )
    return (
        f"#{problem.problem_id} v{problem.version} {problem.severity:<8} {problem.rule:<20}"
        f" {subject} since {problem.since:%Y-%m-%d %H:%M:%S},"
        f" opened after {problem.detection_lag_s:.1f}s"
        + (f" [{'; '.join(flags)}]" if flags else "")
        + (f"\n    {facts}" if facts else "")
    )


@inbox.command("show")
@click.argument("problem_id", type=click.IntRange(1))
def show(problem_id: int) -> None:
    """One record with its history, explanation and its order's timeline, as JSON."""
    from actors.order_checks import rules
    from store.order_checks import inbox as records
    from workers import clock
    from workers.broker import database

    with database.unit_of_work(single_statement=True) as uow:
        try:
            found = records.get_detail(uow.connection, problem_id, rules(), clock.now())
        except records.UnknownProblem as error:
            raise click.ClickException(str(error)) from None
    click.echo(found.model_dump_json(indent=2))


def _act(action: str, problem_id: int, agent: str, note: str | None, version: int | None,
         *args: Any) -> None:  # fmt: skip
    """Run one action as `agent`; without --version, on the record as it is now."""
    from pydantic import ValidationError

    from schemas.order_checks import AgentAction
    from store.order_checks import inbox as records
    from workers import clock
    from workers.broker import database

    try:
        checked = AgentAction(agent=agent, note=note)
    except ValidationError as error:
        raise click.BadParameter(str(error.errors()[0]["msg"])) from None
    act, did = _actions()[action]
    try:
        with database.unit_of_work() as uow:
            seen = version or records.get_problem(uow.connection, problem_id).version
            done = records.Act(problem_id, seen, checked.agent, clock.now(), checked.note)
            found = act(uow.connection, done, *args)
    except (records.UnknownProblem, records.ProblemConflict) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"problem {problem_id} {did} by {checked.agent}")
    click.echo(problem_line(found))


def _actions() -> dict[str, tuple[Any, str]]:
    from store.order_checks import inbox as records

    return {
        "ack": (records.acknowledge, "acknowledged"),
        "assign": (records.assign, "assigned"),
        "note": (records.add_note, "noted"),
        "silence": (records.silence, "silenced"),
        "resolve": (records.resolve, "resolved"),
    }


_problem = click.argument("problem_id", type=click.IntRange(1))
_agent = click.option("--agent", required=True, help="Who acts (kept in the history).")
_note = click.option("--note", help="Why, or what happens next (kept in the history).")
_version = click.option(
    "--version",
    "version",
    type=click.IntRange(1),
    help="The record's version you saw: refused if it changed since (default: as it is now).",
)


@inbox.command("ack")
@_problem
@_agent
@_note
@_version
def ack(problem_id: int, agent: str, note: str | None, version: int | None) -> None:
    """Acknowledge a problem: an agent is on it."""
    _act("ack", problem_id, agent, note, version)


@inbox.command("assign")
@_problem
@click.argument("assignee")
@_agent
@_note
@_version
def assign(
    problem_id: int, assignee: str, agent: str, note: str | None, version: int | None
) -> None:
    """Assign a problem to the agent ASSIGNEE."""
    _act("assign", problem_id, agent, note, version, assignee)


@inbox.command("note")
@_problem
@click.argument("text")
@_agent
@_version
def note(problem_id: int, text: str, agent: str, version: int | None) -> None:
    """Add a note to a problem's history."""
    _act("note", problem_id, agent, text, version)


@inbox.command("silence")
@_problem
@click.option("--minutes", required=True, type=click.IntRange(1, 7 * 24 * 60))
@_agent
@_note
@_version
def silence(
    problem_id: int, minutes: int, agent: str, note: str | None, version: int | None
) -> None:
    """Hide a problem for MINUTES; if the trouble outlasts it, a new record opens."""
    _act("silence", problem_id, agent, note, version, minutes)


@inbox.command("resolve")
@_problem
@_agent
@_note
@_version
def resolve(problem_id: int, agent: str, note: str | None, version: int | None) -> None:
    """Resolve a problem by hand. The same trouble opens a new record only after its condition
    has cleared."""
    _act("resolve", problem_id, agent, note, version)
