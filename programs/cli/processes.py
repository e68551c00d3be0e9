"""The processes the Procfile runs, and the demo: `larder worker`, `larder serve`,
`larder scheduler`, `larder demo`."""

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

    import actors  # (its own metrics registry: the CLI group left the workers' multiprocess one)
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
    empties it at start), plus the fleet's gauges counted at scrape time (queues, dead
    letters, refreshes waiting, runs, models, open problems: workers/fleet_metrics.py)."""
    from prometheus_client import REGISTRY, start_http_server

    from workers.broker import database, settings
    from workers.fleet_metrics import fleet_collector

    url = settings.rabbitmq_url.get_secret_value()
    REGISTRY.register(fleet_collector(database, url, settings.queue_prefix))
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
    import os

    import uvicorn

    from workers import logs

    settings = get_settings()
    logs.configure(settings.log_level, settings.log_format)
    if processes > 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        _fresh_metrics_dir("web")  # /metrics adds up every process's counters
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


# A worker runs several processes of several threads on the cores it has: a BLAS library that
# also starts a thread per core for each matrix product (numpy's OpenBLAS does) fights them.
# Measured in a refresh job: the brand-affinity product took 21 ms with OpenBLAS' own threads,
# 1.4 ms with one.
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@click.command()
@click.argument("pool_name", metavar="POOL", default="all")
def worker(pool_name: str) -> None:
    """Run a worker pool (workers/pools.py): intake, refresh, batch, maintenance, or all (every
    queue). WORKER_PROCESSES, WORKER_THREADS, WORKER_QUEUES and WORKER_SHUTDOWN_TIMEOUT_S
    override the pool's defaults; its Prometheus metrics are served on dramatiq_prom_port
    (default: the pool's port), multiprocess-safe via PROMETHEUS_MULTIPROC_DIR, emptied here."""
    import os
    import sys
    from pathlib import Path

    from workers.pools import dramatiq_argv, pool

    try:
        chosen = pool(pool_name)
    except KeyError as error:
        raise click.BadParameter(str(error.args[0]), param_hint="POOL") from None
    env = os.environ
    env["dramatiq_prom_db"] = _fresh_metrics_dir(pool_name)
    env["LARDER_PROMETHEUS"] = "true"
    env.setdefault("dramatiq_prom_port", str(chosen.metrics_port))
    env.setdefault("LARDER_TIME_LIMIT_MS", str(chosen.time_limit_s * 1000))
    for blas in BLAS_THREADS:  # the pods' and compose's setting, for `honcho start` too
        env.setdefault(blas, "1")
    dramatiq = str(Path(sys.executable).with_name("dramatiq"))
    argv = dramatiq_argv(chosen, dict(env), get_settings().queue_prefix, dramatiq)
    os.execv(argv[0], argv)


def _fresh_metrics_dir(name: str) -> str:
    """PROMETHEUS_MULTIPROC_DIR (default /tmp/larder-prometheus-NAME), emptied: the files of a
    previous run would add their counts to this one's. Set before any process imports
    prometheus_client; returns it."""
    import os
    import shutil
    from pathlib import Path

    path = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or f"/tmp/larder-prometheus-{name}")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return str(path)
