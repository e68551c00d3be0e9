"""`larder db`: the database schema (Alembic migrations)."""

from __future__ import annotations

import sys

import click

from workers.settings import get_settings


@click.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create the database if needed and migrate it to the newest revision."""
    from store import migrate
    from store.db import make_engine
    from store.server import ensure_database

    url = get_settings().database_url.get_secret_value()
    ensure_database(url)
    engine = make_engine(url, pool_size=1)
    migrate.upgrade(engine)
    click.echo("database migrated to head")


@db.command("check")
def db_check() -> None:
    """Fail when the migrated schema and the models disagree."""
    from store import migrate
    from store.db import make_engine

    differences = migrate.drift(make_engine(get_settings().database_url.get_secret_value(), 1))
    for difference in differences:
        click.echo(f"drift: {difference}", err=True)
    if differences:
        sys.exit(1)
    click.echo("models and migrations agree")
