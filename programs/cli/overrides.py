"""`larder recs overrides`: business overrides of the banners and brands surfaces, applied at
the next read (not the next refresh): pin a banner to a slot in a city for a period, exclude a
banner or brand for one user, pause a banner everywhere."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from programs.cli.params import AWARE_DATETIME
from schemas.base import BIGINT_MAX

ID = click.IntRange(1, BIGINT_MAX)
_UNTIL = click.option("--until", "ends_at", type=AWARE_DATETIME, help="Ends then (ISO-8601).")
_FROM = click.option("--from", "starts_at", type=AWARE_DATETIME, help="Starts then (default now).")
_REASON = click.option("--reason", default="", help="Why (no personal data: it is shown to ops).")


@click.group("overrides")
def overrides() -> None:
    """Pin, exclude, pause: taken into account by the next read of every reader."""


def _add(**fields: Any) -> None:
    from store.recs import personal
    from workers.broker import database

    fields.setdefault("city_id", None)
    fields.setdefault("user_id", None)
    fields.setdefault("slot", None)
    fields.setdefault("starts_at", None)
    with database.unit_of_work(single_statement=True) as uow:
        override_id = personal.add_override(uow.connection, **fields)
    click.echo(
        f"override {override_id}: {fields['action']} {fields['target']} {fields['target_id']}"
    )


@overrides.command("pin")
@click.argument("banner_id", type=ID)
@click.option("--city", "city_id", type=ID, required=True)
@click.option("--slot", type=click.IntRange(1, 100), required=True, help="1 = the first slot.")
@_FROM
@_UNTIL
@_REASON
def pin(
    banner_id: int,
    city_id: int,
    slot: int,
    starts_at: datetime | None,
    ends_at: datetime | None,
    reason: str,
) -> None:
    """Show BANNER_ID in slot SLOT to every user of the city for the period (while it is live
    and not excluded for the user)."""
    _add(
        action="pin",
        target="banner",
        target_id=banner_id,
        city_id=city_id,
        slot=slot,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason,
    )


@overrides.command("exclude")
@click.option("--user", "user_id", type=ID, required=True)
@click.option("--banner", "banner_id", type=ID)
@click.option("--brand", "brand_id", type=ID)
@_UNTIL
@_REASON
def exclude(
    user_id: int, banner_id: int | None, brand_id: int | None, ends_at: datetime | None, reason: str
) -> None:
    """Never show this banner (or brand) to this user (after a complaint); wins over pins."""
    if (banner_id is None) == (brand_id is None):
        raise click.UsageError("give exactly one of --banner and --brand")
    target, target_id = ("banner", banner_id) if banner_id else ("brand", brand_id)
    _add(
        action="exclude",
        target=target,
        target_id=target_id,
        user_id=user_id,
        ends_at=ends_at,
        reason=reason,
    )


@overrides.command("pause")
@click.argument("banner_id", type=ID)
@_UNTIL
@_REASON
def pause(banner_id: int, ends_at: datetime | None, reason: str) -> None:
    """Stop serving BANNER_ID everywhere (until --until, or until the override is removed)."""
    _add(action="pause", target="banner", target_id=banner_id, ends_at=ends_at, reason=reason)


@overrides.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_overrides(as_json: bool) -> None:
    """Every override, and whether it is in effect now."""
    from store.recs import personal
    from workers.broker import database

    with database.unit_of_work(single_statement=True) as uow:
        found = personal.overrides(uow.connection)
    if as_json:
        click.echo(json.dumps(found, default=str, indent=2))
        return
    for o in found:
        where = f"city {o['city_id']} slot {o['slot']}" if o["action"] == "pin" else ""
        who = f"user {o['user_id']}" if o["user_id"] else ""
        state = "in effect" if o["in_effect"] else "not in effect"
        until = o["ends_at"] or "removed"
        click.echo(
            f"{o['override_id']:>5} {o['action']} {o['target']} {o['target_id']} {where}{who}"
            f" ({state}; until {until}) {o['reason']}"
        )


@overrides.command("remove")
@click.argument("override_id", type=ID)
def remove(override_id: int) -> None:
    """Delete an override (its effect ends at the next read)."""
    from store.recs import personal
    from workers.broker import database

    with database.unit_of_work(single_statement=True) as uow:
        if not personal.remove_override(uow.connection, override_id):
            raise click.ClickException(f"no override {override_id}")
    click.echo(f"override {override_id} removed")
