"""`larder rabbitmq`: the RabbitMQ users each kind of process connects as."""

from __future__ import annotations

import json
import os

import click

from workers.settings import get_settings


@click.group()
def rabbitmq() -> None:
    """RabbitMQ: users and permissions per kind of process (docs/security.md)."""


@rabbitmq.command("definitions")
@click.option("--queue-prefix", default=None, help="Default: LARDER_QUEUE_PREFIX.")
@click.option("--user-prefix", default="larder-", show_default=True)
@click.option("--vhost", default="/", show_default=True)
def definitions(queue_prefix: str | None, user_prefix: str, vhost: str) -> None:
    """Print RabbitMQ definitions of the producer, worker and monitor users with their vhost
    permissions (`rabbitmqctl import_definitions FILE`). Passwords, hashed, from
    LARDER_RABBITMQ_PASSWORD_PRODUCER, _WORKER, _MONITOR when set; a user without one cannot
    log in until `rabbitmqctl change_password`."""
    from workers.broker_users import definitions as build
    from workers.broker_users import users

    prefix = get_settings().queue_prefix if queue_prefix is None else queue_prefix
    passwords = {
        user.suffix: os.environ[f"LARDER_RABBITMQ_PASSWORD_{user.suffix.upper()}"]
        for user in users(prefix)
        if os.environ.get(f"LARDER_RABBITMQ_PASSWORD_{user.suffix.upper()}")
    }
    click.echo(json.dumps(build(prefix, user_prefix, vhost, passwords), indent=2))
