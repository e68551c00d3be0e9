"""The `larder` command line. Commands import the broker lazily: settings are read once,
when a command starts, and nothing connects before a command needs it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from workers.settings import get_settings


@click.group()
def main() -> None:
    """larder: precompute fleet (RabbitMQ -> Dramatiq actors -> Postgres)."""


@main.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create the database if needed and migrate it to the newest revision."""
    from store import migrate
    from store.db import make_engine
    from workers.services import ensure_database

    url = get_settings().database_url.get_secret_value()
    ensure_database(url)
    engine = make_engine(url, pool_size=1)
    migrate.upgrade(engine)
    click.echo("database migrated to head")


@db.command("check")
def db_check() -> None:
    """Fail when the migrated schema and the models disagree."""
    from store import migrate
    from store.db import make_engine

    differences = migrate.drift(make_engine(get_settings().database_url.get_secret_value(), 1))
    for difference in differences:
        click.echo(f"drift: {difference}", err=True)
    if differences:
        sys.exit(1)
    click.echo("models and migrations agree")


@main.group()
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


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 1000))
def publish(file: Path, batch_size: int) -> None:
    """Publish events from FILE.jsonl (one JSON event per line), routed by type.

    Every line is validated first; a bad line is reported with its number and nothing is sent."""
    from workers.publishing import BadFile, read_events
    from workers.publishing import publish as send

    try:
        events = read_events(file)
    except BadFile as error:
        raise click.ClickException(f"{file}: nothing published\n{error}") from None
    from workers.broker import broker

    report = send(broker, events, batch_size)
    click.echo(f"published {report.events} events in {report.messages} messages: {report.by_type}")


@main.group("import")
def import_() -> None:
    """Bulk loads."""


@import_.command("orders")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_orders(file: Path) -> None:
    """Load order history from a CSV (order_id,user_id,venue_id,item_id,quantity,placed_at[,line_no])."""
    from domain.orders_csv import BadFile
    from store.db import make_engine
    from store.orders_import import import_orders as load

    engine = make_engine(get_settings().database_url.get_secret_value(), 1)
    try:
        report = load(engine, file)
    except BadFile as error:
        raise click.ClickException(f"{file}: nothing loaded\n{error}") from None
    click.echo(
        f"read {report.lines_read} lines ({report.orders_read} orders): "
        f"{report.orders_new} new orders, {report.lines_new} new order lines"
    )


@main.command()
@click.option("--cities", default=3, show_default=True, type=click.IntRange(1, 1000))
@click.option("--venues", default=120, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--items-per-venue", default=25, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--users", default=1000, show_default=True, type=click.IntRange(1, 10_000_000))
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 3650))
@click.option("--seed", "seed_", default=7, show_default=True, type=int)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the events as JSONL instead of publishing them.",
)
def seed(
    cities: int,
    venues: int,
    items_per_venue: int,
    users: int,
    days: int,
    seed_: int,
    out: Path | None,
) -> None:
    """Generate a deterministic synthetic world and publish it through intake."""
    from domain.world import WorldConfig, generate

    config = WorldConfig(
        cities=cities,
        venues=venues,
        items_per_venue=items_per_venue,
        users=users,
        days=days,
        seed=seed_,
    )
    if out is not None:
        with out.open("w", encoding="utf-8") as handle:
            count = sum(handle.write(json.dumps(e) + "\n") > 0 for e in generate(config))
        click.echo(f"wrote {count} events to {out}")
        return
    from workers.broker import broker
    from workers.publishing import publish as send

    report = send(broker, generate(config))
    click.echo(f"published {report.events} events in {report.messages} messages: {report.by_type}")


@main.command("eval")
@click.option(
    "--orders",
    "orders_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Order history CSV (the `larder import orders` format).",
)
@click.option("--json", "as_json", is_flag=True)
def evaluate(orders_file: Path, as_json: bool) -> None:
    """Hold out each user's last order; compare the items model with G-/P-TopFreq."""
    from domain.orders_csv import BadFile
    from domain.recs.evaluation import NothingToEvaluate
    from workers.evaluation import run

    try:
        click.echo(run(orders_file, as_json))
    except (BadFile, NothingToEvaluate) as error:
        raise click.ClickException(f"{orders_file}: {error}") from None


@main.command()
@click.option("--no-activate", is_flag=True, help="Store the version without switching to it.")
def train(no_activate: bool) -> None:
    """Train the items model on all order history as a new version (evaluated, then active)."""
    from actors.training import train_version

    version = train_version(activate=not no_activate)
    click.echo(f"trained {version}" + ("" if no_activate else " (active)"))


@main.group()
def model() -> None:
    """Model versions: list, activate (rollback)."""


@model.command("list")
@click.option("--json", "as_json", is_flag=True)
def model_list(as_json: bool) -> None:
    """Versions, newest first, with their offline metrics."""
    from actors.training import KIND
    from store import registry
    from workers.broker import database

    with database.unit_of_work(single_statement=True) as uow:
        rows = registry.versions(uow.connection, KIND)
    if as_json:
        click.echo(json.dumps(rows, default=str, indent=2))
        return
    for row in rows:
        production: dict[str, float] = (
            next(  # older versions were evaluated under an earlier model name
                (m for name, m in row["metrics"].items() if name.startswith("larder items")), {}
            )
        )
        click.echo(
            f"{'*' if row['active'] else ' '} {row['version']}  {row['created_at']:%Y-%m-%d %H:%M}"
            f"  orders={row['trained_on'].get('orders')}"
            f"  recall@10={production.get('Recall@10', float('nan')):.3f}"
            f"  ndcg@10={production.get('NDCG@10', float('nan')):.3f}"
        )


@model.command("activate")
@click.argument("version")
def model_activate(version: str) -> None:
    """Switch to VERSION atomically (e.g. roll back to the previous one)."""
    from actors.training import KIND
    from store import registry
    from workers.broker import database

    try:
        with database.unit_of_work() as uow:
            registry.activate(uow.connection, KIND, version)
    except registry.UnknownVersion as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{version} is active")


@main.command()
@click.argument("user_ids", nargs=-1, type=click.IntRange(1))
@click.option("--all", "everyone", is_flag=True, help="Every known user.")
@click.option("--city", type=click.IntRange(1), help="Every known user of this city.")
@click.option("--chunk", default=500, show_default=True, type=click.IntRange(1, 1000))
@click.option("--detach", is_flag=True, help="Print the run id and return at once.")
@click.option("--status", "run_id", type=click.IntRange(1), help="Show (or wait for) a run.")
def refresh(
    user_ids: tuple[int, ...],
    everyone: bool,
    city: int | None,
    chunk: int,
    detach: bool,
    run_id: int | None,
) -> None:
    """Recompute every list of the chosen users as a tracked run of chunked jobs, after storing
    the cold-start lists; waits with a progress bar unless --detach."""
    from actors.recs import refresh_fallbacks, start_run
    from store import recs
    from workers.broker import database

    if run_id is None:
        if sum((everyone, city is not None, bool(user_ids))) != 1:
            raise click.UsageError("give exactly one of --all, --city C or user ids")
        users, scope = list(user_ids), "users"
        if everyone or city is not None:
            with database.unit_of_work(single_statement=True) as uow:
                users = recs.users_to_refresh(uow.connection, city)
            scope = "all" if everyone else f"city {city}"
        fallbacks = refresh_fallbacks()
        try:
            run_id = start_run(scope, users, chunk)
        except LookupError as error:
            raise click.ClickException(str(error)) from None
        click.echo(f"run {run_id}: {len(users)} users; {fallbacks} fallback lists stored")
    if detach:
        click.echo(f"follow it with: larder refresh --status {run_id}")
        return
    _follow_run(run_id)


def _follow_run(run_id: int) -> None:
    import time

    from tqdm import tqdm

    from store import queries, runs
    from workers.broker import database

    status = _run_status(runs, database, run_id)
    with tqdm(total=status["total_users"], unit="users", disable=None) as bar:
        while True:
            bar.update(status["done_users"] - bar.n)
            if status["finished"]:
                break
            time.sleep(0.5)
            status = _run_status(runs, database, run_id)
    click.echo(
        f"run {run_id}: {status['done_chunks']}/{status['total_chunks']} chunks done,"
        f" {status['failed_chunks']} failed"
    )
    with database.unit_of_work(single_statement=True) as uow:
        uow.connection.execute(queries.ANALYZE_LISTS)
    if status["failed_chunks"]:
        raise click.ClickException("some chunks failed: see `larder rejected`")


def _run_status(runs: Any, database: Any, run_id: int) -> dict[str, Any]:
    with database.unit_of_work(single_statement=True) as uow:
        status = runs.status(uow.connection, run_id)
    if status is None:
        raise click.ClickException(f"no refresh run {run_id}")
    return dict(status)


@main.command("recs")
@click.argument("user_id", type=click.IntRange(1))
@click.option(
    "--surface",
    default="discovery",
    show_default=True,
    type=click.Choice(["discovery", "category", "items", "cart"]),
)
@click.option(
    "--context",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="Category id (category) or venue id (items).",
)
@click.option("--items", "cart", default="", help="Cart item ids, comma-separated (cart).")
@click.option("--json", "as_json", is_flag=True)
def recs_read(user_id: int, surface: str, context: int, cart: str, as_json: bool) -> None:
    """Read one precomputed list (one indexed query; falls back to popular lists)."""
    from store import recs
    from workers.broker import database

    item_ids = _id_list(cart)
    if surface == "cart" and not item_ids:
        raise click.UsageError("the cart surface needs --items ID[,ID...]")
    with database.unit_of_work(single_statement=True) as uow:
        if surface == "cart":
            found = recs.read_cart(uow.connection, user_id, item_ids)
        else:
            found = recs.read(uow.connection, user_id, surface, context)
    if found is None:
        raise click.ClickException(f"no list for user {user_id}, {surface}, context {context}")
    if as_json:
        click.echo(found.model_dump_json(indent=2))
        return
    kind = "fallback" if found.fallback else "personal"
    click.echo(
        f"{kind} {surface} list (context {found.context}), model {found.model_version},"
        f" computed {found.computed_at:%Y-%m-%d %H:%M}"
    )
    for rank, (item, score) in enumerate(zip(found.ids, found.scores, strict=True), start=1):
        click.echo(f"{rank:>3}. {item}  {score:.4f}")


def _id_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"not a list of ids: {text!r}", param_hint="--items") from None


@main.command()
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
    from workers import scheduler as periodic

    if metrics_port is not None:
        _serve_scheduler_metrics(metrics_port)
    from actors.orders import rules, sweep_order_checks

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
    from workers.problem_metrics import OpenProblems

    REGISTRY.register(OpenProblems(database))
    start_http_server(port)


@main.group(invoke_without_command=True)
@click.option(
    "--status",
    default="open",
    show_default=True,
    type=click.Choice(["open", "resolved", "all"]),
    help="open includes acknowledged records.",
)
@click.option("--city", "city_id", type=click.IntRange(1), help="Only this city's problems.")
@click.option("--rule", help="Only this rule's problems.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def inbox(
    context: click.Context,
    status: str,
    city_id: int | None,
    rule: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Order problems for support agents: list them, newest first (ack / resolve / show)."""
    if context.invoked_subcommand is not None:
        return
    from store import inbox as records
    from workers.broker import database

    with database.unit_of_work(single_statement=True) as uow:
        found = records.list_problems(
            uow.connection, None if status == "all" else status, city_id, rule, limit
        )
    if as_json:
        click.echo(json.dumps([p.model_dump(mode="json") for p in found], indent=2))
        return
    for problem in found:
        click.echo(_problem_line(problem))
    if not found:
        click.echo(f"no {'' if status == 'all' else status + ' '}problems")


def _problem_line(problem: Any) -> str:
    subject = (
        f"order {problem.order_id} (venue {problem.venue_id}, city {problem.city_id})"
        if problem.order_id
        else f"venue {problem.venue_id} (city {problem.city_id})"
    )
    flags = [f"ack by {problem.acknowledged_by}"] if problem.acknowledged_by else []
    flags += ["muted"] if problem.muted else []
    flags += [f"resolved ({problem.resolution})"] if problem.resolved_at else []
    facts = ", ".join(
        f"{key}={value}" for key, value in problem.details.items() if not isinstance(value, list)
    )
    return (
        f"#{problem.problem_id} {problem.severity:<8} {problem.rule:<20} {subject}"
        f" since {problem.since:%Y-%m-%d %H:%M:%S}, opened after {problem.detection_lag_s:.1f}s"
        + (f" [{'; '.join(flags)}]" if flags else "")
        + (f"\n    {facts}" if facts else "")
    )


@inbox.command("show")
@click.argument("problem_id", type=click.IntRange(1))
def inbox_show(problem_id: int) -> None:
    """One record with its details and history, as JSON."""
    from store import inbox as records
    from workers.broker import database

    with database.unit_of_work(single_statement=True) as uow:
        try:
            found = records.get_problem(uow.connection, problem_id)
        except records.UnknownProblem as error:
            raise click.ClickException(str(error)) from None
    click.echo(found.model_dump_json(indent=2))


def _agent_action(action: str, problem_id: int, agent: str, note: str | None) -> None:
    from pydantic import ValidationError

    from schemas.problems import AgentAction
    from store import inbox as records
    from workers import clock
    from workers.broker import database

    try:
        checked = AgentAction(agent=agent, note=note)
    except ValidationError as error:
        raise click.BadParameter(str(error.errors()[0]["msg"])) from None
    act = records.acknowledge if action == "ack" else records.resolve
    try:
        with database.unit_of_work() as uow:
            found = act(uow.connection, problem_id, checked.agent, checked.note, clock.now())
    except (records.UnknownProblem, records.ProblemConflict) as error:
        raise click.ClickException(str(error)) from None
    done = "acknowledged" if action == "ack" else "resolved"
    click.echo(f"problem {problem_id} {done} by {checked.agent}")
    click.echo(_problem_line(found))


@inbox.command("ack")
@click.argument("problem_id", type=click.IntRange(1))
@click.option("--agent", required=True, help="Who takes it on.")
@click.option("--note", help="Why, or what happens next (kept in the history).")
def inbox_ack(problem_id: int, agent: str, note: str | None) -> None:
    """Acknowledge a problem: an agent is on it."""
    _agent_action("ack", problem_id, agent, note)


@inbox.command("resolve")
@click.argument("problem_id", type=click.IntRange(1))
@click.option("--agent", required=True, help="Who resolved it.")
@click.option("--note", help="What was done (kept in the history).")
def inbox_resolve(problem_id: int, agent: str, note: str | None) -> None:
    """Resolve a problem by hand. The same trouble opens a new record only after its condition
    has cleared."""
    _agent_action("resolve", problem_id, agent, note)


@main.group()
def simulate() -> None:
    """End-to-end simulations through RabbitMQ."""


@simulate.command("orders")
@click.option("--orders", default=1000, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option(
    "--fault-rate",
    default=0.1,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of orders with an injected fault (every rule's kind takes turns).",
)
@click.option(
    "--speed",
    default=60.0,
    show_default=True,
    type=click.FloatRange(1, 600),
    help="Simulated seconds per real second (the checks run on the same scaled clock).",
)
@click.option("--seed", default=7, show_default=True, type=int)
@click.option(
    "--fleet",
    "fleet_mode",
    default="spawn",
    show_default=True,
    type=click.Choice(["spawn", "running"]),
    help="spawn: start a private worker and scheduler for the run; running: use the fleet "
    "already consuming the configured queues (started with LARDER_CLOCK_SPEED=SPEED).",
)
@click.option("--json", "as_json", is_flag=True)
def simulate_orders(
    orders: int, fault_rate: float, speed: float, seed: int, fleet_mode: str, as_json: bool
) -> None:
    """Publish realistic order lifecycles (most healthy, some with injected faults, with
    duplicates, out-of-order events, GPS jitter and cancellations), then compare the inbox
    with the injected truth: precision, recall and detection lag per rule."""
    if fleet_mode == "spawn":
        options = ["--orders", str(orders), "--fault-rate", str(fault_rate), "--seed", str(seed)]
        _simulate_with_own_fleet(speed, options + (["--json"] if as_json else []))
        return
    from domain.orders.simulation import SimulationConfig
    from workers import clock
    from workers import simulate as sim
    from workers.broker import broker, database
    from workers.queues import ORDER_CHECKS, name

    running = clock.current()
    if running.speed != speed:
        raise click.UsageError(
            f"the fleet's clock runs at {running.speed:g}x (LARDER_CLOCK_SPEED); start it and"
            f" this command with LARDER_CLOCK_SPEED={speed:g}, or use --fleet spawn"
        )
    config = sim.private_run(SimulationConfig(orders=orders, fault_rate=fault_rate, seed=seed))
    echo = (lambda _: None) if as_json else click.echo
    outcome = sim.run(config, broker, database, running, name(ORDER_CHECKS), echo=echo)
    _simulation_report(outcome, as_json)


def _simulate_with_own_fleet(speed: float, options: list[str]) -> None:
    """Run this same command with --fleet running, beside a private fleet on a scaled clock."""
    import os
    import shutil
    import subprocess
    import uuid
    from datetime import UTC, datetime

    from workers import simulate as sim

    settings = get_settings()
    _require_migrated_database(settings.database_url.get_secret_value())
    env = {
        **os.environ,
        "LARDER_QUEUE_PREFIX": f"{settings.queue_prefix}sim{uuid.uuid4().hex[:6]}.",
        "LARDER_CLOCK_SPEED": f"{speed:g}",
        "LARDER_CLOCK_EPOCH": datetime.now(UTC).isoformat(),
    }
    command = [sys.executable, "-m", "workers.cli", "simulate", "orders", *options]
    command += ["--speed", f"{speed:g}", "--fleet", "running"]
    click.echo(f"starting a fleet for the run (queues {env['LARDER_QUEUE_PREFIX']}*)", err=True)
    with sim.fleet(env, settings.rabbitmq_url.get_secret_value()) as scratch:
        code = subprocess.run(command, env=env, check=False).returncode
    if code == 0:
        shutil.rmtree(scratch, ignore_errors=True)
    else:
        click.echo(f"the fleet's log: {scratch / 'fleet.log'}", err=True)
    sys.exit(code)


def _require_migrated_database(url: str) -> None:
    """Fail before a run starts, not after it, when the checks would have nowhere to write."""
    from workers.services import schema_problem

    reason = schema_problem(url, "order_problems")
    if reason is not None:
        raise click.ClickException(
            f"the database is not ready for the order checks ({reason}): run `larder db upgrade`"
        )


def _simulation_report(outcome: Any, as_json: bool) -> None:
    from domain.orders.simulation import missed, report

    bar = 0.95
    passed = all(s.precision >= bar and s.recall >= bar for s in outcome.scores)
    if as_json:
        rows = [
            {
                "rule": s.rule,
                "injected": s.injected,
                "detected": s.detected,
                "precision": s.precision,
                "recall": s.recall,
                "lag_p50_s": None if s.lag(0.5) is None else s.lag(0.5) / outcome.speed,
                "lag_p95_s": None if s.lag(0.95) is None else s.lag(0.95) / outcome.speed,
            }
            for s in outcome.scores
        ]
        wrong = missed(outcome.simulation.faults, outcome.detections)
        click.echo(json.dumps({"passed": passed, "rules": rows, **wrong}, default=str, indent=2))
    else:
        click.echo(report(outcome.scores, outcome.speed))
        click.echo(
            f"(lag: from `since` to the record opening, in real seconds at {outcome.speed:g}x)"
        )
        for kind, keys in missed(outcome.simulation.faults, outcome.detections).items():
            if keys:
                click.echo(f"{kind}: {keys[:20]}")
        click.echo(f"{'PASS' if passed else 'FAIL'}: precision and recall >= {bar} for every rule")
    if not passed:
        sys.exit(1)


@main.command()
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 3650))
def prune(days: int) -> None:
    """Delete idempotency records older than DAYS (what the maintenance actor does)."""
    from actors.maintenance import prune as prune_records

    click.echo(f"deleted {prune_records(days)} processed-event records")


@main.command()
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True)
def rejected(limit: int, as_json: bool) -> None:
    """List the most recent dead-lettered messages and why."""
    from store import queries
    from store.db import make_engine

    engine = make_engine(get_settings().database_url.get_secret_value(), 1)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(queries.RECENT_REJECTIONS, {"limit": limit}).mappings().all()
    _print_rows([dict(r) for r in rows], as_json)


def _print_rows(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rows, default=str, indent=2))
        return
    for row in rows:
        click.echo("  ".join(f"{k}={str(v)[:80]}" for k, v in row.items()))


@main.command()
@click.option("--users", default=300, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--venues", default=60, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--days", default=14, show_default=True, type=click.IntRange(1, 365))
def demo(users: int, venues: int, days: int) -> None:
    """Run the fleet end to end: migrate, seed a small world, process it, show what landed."""
    from workers.demo import run

    run(users=users, venues=venues, days=days)


@main.command()
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
        "workers.serve:app_from_settings",
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


if __name__ == "__main__":
    main()
