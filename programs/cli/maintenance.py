"""`larder maintenance`: housekeeping."""

from __future__ import annotations

import click

from programs.cli.text import plural


@click.group()
def maintenance() -> None:
    """Housekeeping (what the maintenance actors and the scheduler do)."""


@maintenance.command()
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 3650))
def prune(days: int) -> None:
    """Delete idempotency records older than DAYS (what the maintenance actor does)."""
    from actors.maintenance import prune as prune_records

    click.echo(f"deleted {plural(prune_records(days), 'processed-event record')}")
