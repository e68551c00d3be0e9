"""The processes the Procfile runs, and the demo: `larder serve`, `larder scheduler`,
`larder demo`."""

from __future__ import annotations

import click

from workers.settings import get_settings


@click.command()
@click.option(
    "--every",
    "overrides",
    multiple=True,
    metavar="DUTY=SECONDS",
    help="Run a duty at another interval, e.g. --every recs.sweep_changed_users=2 (repeatable).",
)
@click.option(
    "--only",
    multiple=True,
    metavar="CAPABILITY",
    help="Only this capability's duties, e.g. --only order_checks (repeatable).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="Serve Prometheus metrics here (the duties' runs, the sweeps' counters, open problems).",
)
@click.option("--once", is_flag=True, help="Run every duty once (if this scheduler leads it).")
def scheduler(
    overrides: tuple[str, ...], only: tuple[str, ...], metrics_port: int | None, once: bool
) -> None:
    """Run the periodic duties every capability registers (sweeps of changed users and of
    order checks whose time has come, stale lists, retraining, pruning). Several schedulers
    may run: each duty fires once per period across them."""
    import logging

    import actors
    from store.scheduling import Leases
    from workers import scheduling
    from workers.broker import database, settings

    if metrics_port is not None:
        _serve_scheduler_metrics(metrics_port)
    actors.order_checks.rules()  # a broken rules file stops the scheduler here, not later
    try:
        plan = scheduling.registered(only, dict(_interval(o) for o in overrides))
    except KeyError as error:
        raise click.UsageError(str(error.args[0])) from None
    logging.getLogger("larder.scheduler").info(scheduling.describe(plan))
    leases = Leases(settings.database_url.get_secret_value())
    try:
        if once:
            scheduling.run(plan, leases, once=True)
        else:
            scheduling.run_lanes(plan, leases)
    finally:
        leases.close()
        database.dispose()


def _interval(override: str) -> tuple[str, float]:
    name, _, seconds = override.partition("=")
    try:
        value = float(seconds)
    except ValueError:
        value = -1.0
    if not name or not 0.05 <= value <= 86_400:
        raise click.BadParameter(
            f"{override!r}: want DUTY=SECONDS, 0.05 to 86400", param_hint="--every"
        )
    return name, value


def _serve_scheduler_metrics(port: int) -> None:
    """This process's own registry (never the workers' multiprocess directory: the worker
    empties it at start), plus open problems counted in Postgres at scrape time."""
    import os

    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)  # before prometheus_client is imported
    from prometheus_client import REGISTRY, start_http_server

    from workers.broker import database
    from workers.order_checks_metrics import OpenProblems

    REGISTRY.register(OpenProblems(database))
    start_http_server(port)


@click.command()
@click.option("--users", default=300, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--venues", default=60, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--days", default=14, show_default=True, type=click.IntRange(1, 365))
def demo(users: int, venues: int, days: int) -> None:
    """Run the fleet end to end: migrate, seed a small world, process it, show what landed."""
    from programs.demo import run

    run(users=users, venues=venues, days=days)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    "processes",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes (each with its own database pool and catalog snapshot).",
)
@click.option("--access-log/--no-access-log", default=False, show_default=True)
def serve(host: str, port: int, processes: int, access_log: bool) -> None:
    """Serve the HTTP read API (OpenAPI at /docs)."""
    import uvicorn

    from workers import logs

    settings = get_settings()
    logs.configure(settings.log_level, settings.log_format)
    uvicorn.run(
        "programs.http.app:app_from_settings",
        factory=True,
        host=host,
        port=port,
        workers=processes,
        http="httptools",
        loop="uvloop",
        access_log=access_log,
        log_level=settings.log_level.lower(),
        log_config=None,  # the app configures logging (workers.logs), as the workers do
    )
