"""`larder schemas`: the JSON Schema files producers validate against."""

from __future__ import annotations

import sys

import click


@click.group()
def schemas() -> None:
    """JSON Schema files for producers."""


@schemas.command("export")
@click.option("--check", is_flag=True, help="Fail if the committed files are out of date.")
def schemas_export(check: bool) -> None:
    """Write every message schema as JSON Schema under schemas/json/."""
    from schemas.export import export, stale

    if check:
        outdated = stale()
        for name in outdated:
            click.echo(f"out of date: {name}", err=True)
        sys.exit(1 if outdated else 0)
    for path in export():
        click.echo(f"wrote {path}")
