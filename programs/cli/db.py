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
    from store.security import roles
    from store.server import ensure_database

    settings = get_settings()
    url = settings.database_url.get_secret_value()
    ensure_database(url)
    engine = make_engine(url, pool_size=1)
    migrate.upgrade(engine)
    click.echo("database migrated to head")
    if roles.regrant(url, settings.db_role_prefix):
        click.echo(f"privileges of the {settings.db_role_prefix}* roles re-applied")


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


@db.command("roles")
def db_roles() -> None:
    """Create the roles each process connects as (owner, worker, reader, api; prefix
    LARDER_DB_ROLE_PREFIX), hand the database to the owner, and grant each role what it needs.
    Run once as an admin (a superuser, or CREATEROLE and owner of the database); passwords
    come from LARDER_DB_PASSWORD_OWNER, _WORKER, _READER, _API when set. Idempotent."""
    import os

    from store.security import roles
    from store.server import database_name, ensure_database

    settings = get_settings()
    url = settings.database_url.get_secret_value()
    ensure_database(url)
    passwords = {
        role.suffix: os.environ[f"LARDER_DB_PASSWORD_{role.suffix.upper()}"]
        for role in roles.ROLES
        if os.environ.get(f"LARDER_DB_PASSWORD_{role.suffix.upper()}")
    }
    created = roles.set_up(url, settings.db_role_prefix, passwords)
    name = database_name(url)
    for role in roles.ROLES:
        new = " (created)" if role.name(settings.db_role_prefix) in created else ""
        click.echo(f"{role.name(settings.db_role_prefix)}{new}: {role.description}")
    if passwords:
        click.echo(f"passwords set for: {', '.join(sorted(passwords))}")
    click.echo(
        f"database {name!r} now belongs to {roles.OWNER.name(settings.db_role_prefix)}; give each"
        " process its own DATABASE_URL (docs/security.md)"
    )
