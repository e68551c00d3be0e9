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
@click.pass_context
def main(context: click.Context) -> None:
    """larder: precompute fleet (RabbitMQ -> Dramatiq actors -> Postgres)."""
    _own_metrics_registry(context.invoked_subcommand)


# The commands that serve Prometheus metrics from several processes (multiprocess mode).
MULTIPROCESS_METRICS = frozenset({"worker", "serve"})


def _own_metrics_registry(command: str | None) -> None:
    """Any other command (a publisher, a CLI job) keeps its metrics in its own registry: run
    beside the workers with their PROMETHEUS_MULTIPROC_DIR in its environment, it would write
    files into the directory a starting worker empties (`larder worker`), and fail when the
    directory vanished under it (a race the first-run walk test met)."""
    import os

    if command not in MULTIPROCESS_METRICS:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)


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
