"""`larder intake`: events and order history into the catalog and history tables."""

from __future__ import annotations

from pathlib import Path

import click

from programs.cli.text import plural, sent
from workers.settings import get_settings


@click.group()
def intake() -> None:
    """Events in: publish a JSONL file, bulk-load order history."""


@intake.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 1000))
def publish(file: Path, batch_size: int) -> None:
    """Publish events from FILE.jsonl (one JSON event per line), routed by type.

    Every line is validated first; a bad line is reported with its number and nothing is sent."""
    from workers.publishing import BadFile, read_events
    from workers.publishing import publish as send

    try:
        events = read_events(file)
    except BadFile as error:
        raise click.ClickException(f"{file}: nothing published\n{error}") from None
    from workers.broker import broker
    from workers.confirmed import PublishInterrupted, quiet_reconnects

    quiet_reconnects()
    try:
        report = send(broker, events, batch_size, give_up_s=get_settings().publish_retry_s)
    except PublishInterrupted as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"published {sent(report.events, report.messages)}: {report.by_type}")


@intake.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_orders(file: Path) -> None:
    """Load order history from a CSV (order_id,user_id,venue_id,item_id,quantity,placed_at[,line_no])."""
    from domain.intake.orders_csv import BadFile
    from store.db import make_engine
    from store.intake.orders_import import import_orders as load

    engine = make_engine(get_settings().database_url.get_secret_value(), 1)
    try:
        report = load(engine, file)
    except BadFile as error:
        raise click.ClickException(f"{file}: nothing loaded\n{error}") from None
    click.echo(
        f"read {plural(report.lines_read, 'line')} ({plural(report.orders_read, 'order')}): "
        f"{plural(report.orders_new, 'new order')}, {plural(report.lines_new, 'new order line')}"
    )
