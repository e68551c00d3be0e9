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
        production = row["metrics"].get("larder items (TIFU-KNN)", {})
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

    from store import runs
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
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.05, 3600),
    help="Seconds between sweeps of users whose lists must follow new orders.",
)
@click.option("--once", is_flag=True, help="Run every duty once and exit.")
def scheduler(sweep_every: float, once: bool) -> None:
    """Periodic duties: refresh lists of users with new orders, prune old records."""
    from workers import scheduler as periodic

    periodic.run(periodic.duties(sweep_every), once=once)


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
        access_log=access_log,
        log_level=settings.log_level.lower(),
        log_config=None,  # the app configures logging (workers.logs), as the workers do
    )


if __name__ == "__main__":
    main()
