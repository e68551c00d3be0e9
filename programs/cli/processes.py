"""The processes the Procfile runs, and the demo: `larder serve`, `larder scheduler`,
`larder demo`."""

from __future__ import annotations

import click

from workers.settings import get_settings


@click.command()
@click.option(
    "--sweep-every",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0.05, 3600),
    help="Seconds between sweeps of users whose lists must follow new orders.",
)
@click.option(
    "--checks-every",
    default=0.25,
    show_default=True,
    type=click.FloatRange(0.05, 60),
    help="Seconds between order-check sweeps (due timers, venues whose inputs changed).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="Serve Prometheus metrics here (the sweeps' counters, open problems per rule).",
)
@click.option("--checks-only", is_flag=True, help="Only the order-check sweeps (simulations).")
@click.option("--once", is_flag=True, help="Run every duty once and exit.")
def scheduler(
    sweep_every: float,
    checks_every: float,
    metrics_port: int | None,
    checks_only: bool,
    once: bool,
) -> None:
    """Periodic duties: refresh lists of users with new orders, order-problem checks whose
    time has come, prune old records."""
    from workers import scheduling as periodic

    if metrics_port is not None:
        _serve_scheduler_metrics(metrics_port)
    from actors.order_checks import rules, sweep_order_checks

    rules()  # a broken rules file stops the scheduler here, not in its first sweep
    plan = periodic.duties(sweep_every, checks_every)
    if checks_only:
        plan = [periodic.Duty("order checks", checks_every, sweep_order_checks)]
    if once:
        periodic.run(plan, once=True)
    else:
        periodic.run_lanes(plan)


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
