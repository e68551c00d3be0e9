"""`larder dlq`: what was dead-lettered, and why."""

from __future__ import annotations

import json
from typing import Any

import click

from programs.cli.text import clip, plural, wrapped
from workers.queues import WORKLOADS

WIDTH = 100  # of a line, indent included
BODY_SHOWN = 200  # characters of a message body (--json shows it all)


@click.group("dlq")
def dead_letters() -> None:
    """Dead-lettered messages: never retried, recorded with their reason."""


@dead_letters.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="Every field in full, bodies included.")
def list_(limit: int, as_json: bool) -> None:
    """List the most recent dead-lettered messages and why (whole reasons; bodies cut short,
    --json shows them whole)."""
    from store import dead_letters as records
    from workers.broker import database

    with database.unit_of_work(single_statement=True) as uow:
        rows = records.recent(uow.connection, limit)
    _print_rows(rows, as_json)


@dead_letters.command("replay")
@click.option(
    "--queue",
    "workload",
    required=True,
    type=click.Choice(sorted(WORKLOADS)),
    help="The workload whose dead-letter queue to replay.",
)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
def replay(workload: str, limit: int) -> None:
    """Publish dead-lettered messages of a queue again (oldest first), signed by this process;
    a message whose original signature does not verify stays dead-lettered."""
    from workers.broker import broker
    from workers.replay import replay as replay_queue

    report = replay_queue(broker, workload, limit)
    click.echo(f"replayed {plural(report.replayed, 'message')} on {workload}")
    for reason in report.refused:
        click.echo(f"  left in the dead-letter queue: {reason}")


def _print_rows(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rows, default=str, indent=2))
        return
    for row in rows:
        click.echo(_row_text(row))
    if not rows:
        click.echo("no dead-lettered messages")
    elif any(len(row["raw_body"]) > BODY_SHOWN for row in rows):
        click.echo(f"(bodies cut at {BODY_SHOWN} characters: --json shows them whole)")


def _row_text(row: dict[str, Any]) -> str:
    """One rejection: what and when on one line, then its whole reason, then its body cut."""
    head = (
        f"#{row['id']} {row['rejected_at']:%Y-%m-%d %H:%M:%S%z} queue {row['queue_name']}"
        f" actor {row['actor_name'] or '-'} message {row['message_id'] or '-'}"
    )
    reason = wrapped(row["reason"], WIDTH, "    reason: ", " " * 12)
    body = wrapped(clip(row["raw_body"], BODY_SHOWN), WIDTH, "    body:   ", " " * 12)
    return f"{head}\n{reason}\n{body}"
