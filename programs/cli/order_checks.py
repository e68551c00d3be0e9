"""`larder order-checks`: the support inbox of the order-problem checks."""

from __future__ import annotations

import json
from typing import Any

import click


@click.group("order-checks")
def order_checks() -> None:
    """Order-problem checks: the inbox of problem records, and agents' actions."""


@order_checks.command("inbox")
@click.option(
    "--status",
    default="open",
    show_default=True,
    type=click.Choice(["open", "resolved", "all"]),
    help="open includes acknowledged records.",
)
@click.option("--city", "city_id", type=click.IntRange(1), help="Only this city's problems.")
@click.option("--rule", help="Only this rule's problems.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
@click.option(
    "--cards",
    is_flag=True,
    help="One entry per cause: records muted by a listed cause are shown under it.",
)
@click.option("--json", "as_json", is_flag=True)
def inbox(
    status: str,
    city_id: int | None,
    rule: str | None,
    limit: int,
    cards: bool,
    as_json: bool,
) -> None:
    """Problem records for support agents, newest first (then: show, ack, resolve)."""
    from store.order_checks import inbox as records
    from workers.broker import database

    with database.unit_of_work(single_statement=True) as uow:
        found = records.list_problems(
            uow.connection, None if status == "all" else status, city_id, rule, limit, cards
        )
    if as_json:
        click.echo(json.dumps([p.model_dump(mode="json") for p in found], indent=2))
        return
    for problem in found:
        click.echo(_problem_line(problem))
        for symptom in problem.symptoms or ():
            click.echo("  under it: " + _problem_line(symptom).replace("\n", "\n  "))
    if not found:
        click.echo(f"no {'' if status == 'all' else status + ' '}problems")


def _problem_line(problem: Any) -> str:
    subject = (
        f"order {problem.order_id} (venue {problem.venue_id}, city {problem.city_id})"
        if problem.order_id
        else f"venue {problem.venue_id} (city {problem.city_id})"
    )
    flags = [f"ack by {problem.acknowledged_by}"] if problem.acknowledged_by else []
    flags += [f"muted by {problem.muted_by or 'a cause'}"] if problem.muted else []
    flags += [f"resolved ({problem.resolution})"] if problem.resolved_at else []
    facts = ", ".join(
        f"{key}={value}" for key, value in problem.details.items() if not isinstance(value, list)
    )
    return (
        f"#{problem.problem_id} {problem.severity:<8} {problem.rule:<20} {subject}"
        f" since {problem.since:%Y-%m-%d %H:%M:%S}, opened after {problem.detection_lag_s:.1f}s"
        + (f" [{'; '.join(flags)}]" if flags else "")
        + (f"\n    {facts}" if facts else "")
    )


@order_checks.command("show")
@click.argument("problem_id", type=click.IntRange(1))
def inbox_show(problem_id: int) -> None:
    """One record with its details and history, as JSON."""
    from store.order_checks import inbox as records
    from workers.broker import database

    with database.unit_of_work(single_statement=True) as uow:
        try:
            found = records.get_problem(uow.connection, problem_id)
        except records.UnknownProblem as error:
            raise click.ClickException(str(error)) from None
    click.echo(found.model_dump_json(indent=2))


def _agent_action(action: str, problem_id: int, agent: str, note: str | None) -> None:
    from pydantic import ValidationError

    from schemas.order_checks import AgentAction
    from store.order_checks import inbox as records
    from workers import clock
    from workers.broker import database

    try:
        checked = AgentAction(agent=agent, note=note)
    except ValidationError as error:
        raise click.BadParameter(str(error.errors()[0]["msg"])) from None
    act = records.acknowledge if action == "ack" else records.resolve
    try:
        with database.unit_of_work() as uow:
            found = act(uow.connection, problem_id, checked.agent, checked.note, clock.now())
    except (records.UnknownProblem, records.ProblemConflict) as error:
        raise click.ClickException(str(error)) from None
    done = "acknowledged" if action == "ack" else "resolved"
    click.echo(f"problem {problem_id} {done} by {checked.agent}")
    click.echo(_problem_line(found))


@order_checks.command("ack")
@click.argument("problem_id", type=click.IntRange(1))
@click.option("--agent", required=True, help="Who takes it on.")
@click.option("--note", help="Why, or what happens next (kept in the history).")
def inbox_ack(problem_id: int, agent: str, note: str | None) -> None:
    """Acknowledge a problem: an agent is on it."""
    _agent_action("ack", problem_id, agent, note)


@order_checks.command("resolve")
@click.argument("problem_id", type=click.IntRange(1))
@click.option("--agent", required=True, help="Who resolved it.")
@click.option("--note", help="What was done (kept in the history).")
def inbox_resolve(problem_id: int, agent: str, note: str | None) -> None:
    """Resolve a problem by hand. The same trouble opens a new record only after its condition
    has cleared."""
    _agent_action("resolve", problem_id, agent, note)


@order_checks.command("rules")
def rules() -> None:
    """The rules (the rules table, domain/order_checks/rules.py), as docs/order-checks.md shows
    them."""
    click.echo(rules_table())


def rules_table() -> str:
    """The docs' table of rules, from the rules table (a test keeps docs/order-checks.md in
    step)."""
    from domain.order_checks.rules import RULES

    rows = ["| rule | level | what it means | mutes (while open) |", "|---|---|---|---|"]
    for rule in RULES:
        mutes = ", ".join(f"`{m}`" for m in sorted(rule.mutes)) or "—"
        rows.append(f"| `{rule.name}` | {rule.level} | {rule.explanation} | {mutes} |")
    return "\n".join(rows)
