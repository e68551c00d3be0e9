"""`larder keys`: API keys for the HTTP API (one per client or agent; hashed, scoped,
revocable). Run with a DATABASE_URL that may write `api_keys` (the owner's)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from domain.security.scopes import SCOPES
from workers.settings import get_settings


@click.group()
def keys() -> None:
    """API keys: create (the token is shown once), list, revoke."""


@contextmanager
def _connection() -> Iterator[Any]:
    from store.db import Database

    database = Database(get_settings().database_url.get_secret_value(), 1)
    try:
        with database.unit_of_work() as uow:
            yield uow.connection
    finally:
        database.dispose()


def _principal(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from pydantic import TypeAdapter, ValidationError

    from schemas.order_checks import AgentName

    try:
        return TypeAdapter(AgentName).validate_python(value)
    except ValidationError:
        raise click.BadParameter("1 to 100 characters, on one line") from None


@keys.command("create")
@click.argument("principal", callback=_principal)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(list(SCOPES)),
    help="What the key may do (repeatable): "
    + "; ".join(f"{s.name}: {s.description}" for s in SCOPES.values()),
)
def create(principal: str, scopes: tuple[str, ...]) -> None:
    """Create a key for PRINCIPAL (a client, or an agent: the inbox records this name on the
    agent's actions). Its token is printed once; only its digest is stored."""
    from store.security import create_key

    with _connection() as connection:
        token = create_key(connection, principal, scopes)
    click.echo(f"created key {token.key_id} for {principal} ({', '.join(sorted(set(scopes)))})")
    click.echo("token (shown once: keep it in a secret store):")
    click.echo(str(token))
    click.echo('use it as the header "Authorization: Bearer <token>"')


@keys.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Revoked keys too.")
@click.option("--json", "as_json", is_flag=True)
def list_(include_revoked: bool, as_json: bool) -> None:
    """Keys by principal (ids, scopes, dates; never secrets)."""
    from store.security import list_keys

    with _connection() as connection:
        found = list_keys(connection, include_revoked)
    if as_json:
        rows = [
            {
                "key_id": key.key_id,
                "principal": key.principal,
                "scopes": list(key.scopes),
                "created_at": key.created_at.isoformat(),
                "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
            }
            for key in found
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    for key in found:
        revoked = f", revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else ""
        click.echo(
            f"{key.key_id}  {key.principal}  {','.join(key.scopes)}"
            f"  created {key.created_at:%Y-%m-%d %H:%M}{revoked}"
        )
    if not found:
        click.echo("no keys")


@keys.command("revoke")
@click.argument("key_id")
def revoke(key_id: str) -> None:
    """Revoke a key: the API refuses it within LARDER_API_KEY_REFRESH_S (5 s)."""
    from store.security import revoke_key

    with _connection() as connection:
        done = revoke_key(connection, key_id)
    if not done:
        raise click.ClickException(f"no active key {key_id}")
    click.echo(f"revoked key {key_id}")
