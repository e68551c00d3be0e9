"""The `larder` command line: one click group per capability (`larder intake`, `larder recs`,
`larder order-checks`, `larder inbox`, ...), plus the processes the Procfile runs. Commands import the broker
lazily: settings are read once, when a command starts, and nothing connects before a command
needs it."""

from __future__ import annotations

import click

from programs.cli import (
    db,
    dead_letters,
    evaluate,
    health,
    inbox,
    intake,
    keys,
    maintenance,
    order_checks,
    processes,
    rabbitmq,
    recs,
    schemas,
    simulate,
)


@click.group()
def main() -> None:
    """larder: precompute fleet (RabbitMQ -> Dramatiq actors -> Postgres)."""


for command in (
    db.db,
    schemas.schemas,
    intake.intake,
    recs.recs,
    order_checks.order_checks,
    inbox.inbox,
    simulate.simulate,
    evaluate.evaluate,
    dead_letters.dead_letters,
    maintenance.maintenance,
    health.health,
    processes.worker,
    keys.keys,
    rabbitmq.rabbitmq,
    processes.serve,
    processes.scheduler,
    processes.demo,
):
    main.add_command(command)
