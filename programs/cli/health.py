"""`larder health`: is this deployment ready (RabbitMQ, Postgres, migrations at head)?"""

from __future__ import annotations

import json
import sys

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="The checks as JSON (what /readyz answers).")
def health(as_json: bool) -> None:
    """Check RabbitMQ, Postgres and that the database is migrated to this code's head; exits
    1 when any check fails (the same checks as HTTP /readyz)."""
    from workers import health as checks
    from workers.broker import database, settings

    found = checks.check(database, settings.rabbitmq_url.get_secret_value())
    if as_json:
        click.echo(json.dumps(checks.as_json(found), indent=2))
    else:
        for check in found:
            mark = "ok  " if check.ok else "FAIL"
            click.echo(f"{mark} {check.name:<10} {check.detail} ({check.elapsed_ms:.0f} ms)")
    sys.exit(0 if all(c.ok for c in found) else 1)
