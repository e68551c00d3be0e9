"""`larder dlq`: what was dead-lettered, and why."""

from __future__ import annotations

import json
from typing import Any

import click


@click.group("dlq")
def dead_letters() -> None:
    """Dead-lettered messages: never retried, recorded with their reason."""


@dead_letters.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True)
def list_(limit: int, as_json: bool) -> None:
    """List the most recent dead-lettered messages and why."""
    from store import dead_letters as records
    from workers.broker import database

    with database.unit_of_work(single_statement=True) as uow:
        rows = records.recent(uow.connection, limit)
    _print_rows(rows, as_json)


def _print_rows(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rows, default=str, indent=2))
        return
    for row in rows:
        click.echo("  ".join(f"{k}={str(v)[:80]}" for k, v in row.items()))
