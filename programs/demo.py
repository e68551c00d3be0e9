"""`larder demo`: the fleet end to end on whatever answers — the configured RabbitMQ and
Postgres, or an embedded default (embedded Postgres, Dramatiq's in-memory broker)."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from typing import Any

import click
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from programs.cli.text import plural, sent, wrapped
from workers import queues
from workers.settings import get_settings


def choose_services() -> None:
    """Point settings at what answers; one line per fallback taken. Must run before the
    broker module is imported, since settings are read once."""
    from store.server import postgres_answers
    from workers.services import rabbitmq_answers, start_embedded_postgres

    settings = get_settings()
    if not postgres_answers(settings.database_url.get_secret_value()):
        os.environ["DATABASE_URL"] = start_embedded_postgres()
        click.echo("Postgres did not answer: using embedded Postgres in .larder/pgdata")
    if settings.broker == "rabbitmq" and not rabbitmq_answers(
        settings.rabbitmq_url.get_secret_value()
    ):
        os.environ["LARDER_BROKER"] = "stub"
        click.echo("RabbitMQ did not answer: using Dramatiq's in-memory broker")
    get_settings.cache_clear()


def run(users: int, venues: int, days: int) -> None:
    choose_services()
    settings = get_settings()
    say_where()
    migrate(settings.database_url.get_secret_value())
    import dramatiq

    import actors.intake
    import actors.recs
    from workers.broker import broker, database

    worker = dramatiq.Worker(broker, worker_threads=4, worker_timeout=100)
    worker.start()
    try:
        publish_world(broker, users=users, venues=venues, days=days)
        publish_bad_messages(broker)
        drain(broker, worker, queues.EVENTS)
        run_id = precompute_lists(actors.recs)
        if run_id is not None:
            drain(broker, worker, queues.RECS)
    finally:
        worker.stop()
    show(database)  # once the lists are computed: models and lists counted too
    user = show_lists(database, run_id) if run_id is not None else None
    show_api_key(database, user)


def say_where() -> None:
    """The demo's first lines: the database it writes (created if missing) and the broker."""
    from store.server import database_name, without_password

    settings = get_settings()
    url = settings.database_url.get_secret_value()
    click.echo(
        f"Postgres: database {database_name(url)!r} at {without_password(url)}"
        " (created if missing, then migrated)"
    )
    if settings.broker == "stub":
        click.echo("broker: Dramatiq's in-memory broker, workers in this process")
        return
    rabbitmq = without_password(settings.rabbitmq_url.get_secret_value())
    names = ", ".join(queues.name(w) for w in (queues.EVENTS, queues.RECS))
    click.echo(f"RabbitMQ: {rabbitmq}, queues {names} (workers in this process)")


def migrate(url: str) -> None:
    from store import migrate as migrations
    from store.db import make_engine
    from store.server import database_name, ensure_database

    created = ensure_database(url)
    engine = make_engine(url, 1)
    try:
        migrations.upgrade(engine)
    finally:
        engine.dispose()
    done = "created and migrated" if created else "migrated"
    click.echo(f"database {database_name(url)!r} {done}")


def publish_world(broker: Any, users: int, venues: int, days: int) -> None:
    from synthetic.world import WorldConfig, generate, to_the_minute
    from workers.publishing import publish

    end = to_the_minute(datetime.now(UTC))  # history up to now: the lists use recent activity
    config = WorldConfig(users=users, venues=venues, days=days, end=end)
    report = publish(broker, generate(config))
    click.echo(
        f"published a synthetic world ({plural(users, 'user')}, {plural(venues, 'venue')},"
        f" {plural(days, 'day')} of history up to now): {sent(report.events, report.messages)}"
    )


def publish_bad_messages(broker: Any) -> None:
    """Bad messages, on purpose: each must be dead-lettered with its reason, not retried (an
    invalid event, a message for an unknown actor, and on RabbitMQ a body that is not JSON)."""
    from dramatiq.message import Message

    queue = queues.name(queues.EVENTS)
    bad_event = {
        "type": "venue.upserted",
        "schema_version": 1,
        "event_id": "demo-bad-1",
        "version": 1,
        "venue_id": 1,
        "city_id": 1,
        "name": "Nowhere",
        "lat": 60.2,
        "lon": 24.9,
        "delivery_radius_m": 3000,
        "rating": 7,
        "colour": "red",
    }
    tag = uuid.uuid4().hex[:8]
    broker.enqueue(
        Message(
            queue_name=queue,
            actor_name="ingest",
            args=(bad_event,),
            kwargs={},
            options={},
            message_id=f"demo-invalid-{tag}",
        )
    )
    broker.enqueue(
        Message(
            queue_name=queue,
            actor_name="no_such_actor",
            args=(),
            kwargs={},
            options={},
            message_id=f"demo-unknown-{tag}",
        )
    )
    kinds = ["an invalid event", "a message for an unknown actor"]
    if isinstance(broker, RabbitmqBroker):
        broker.channel.basic_publish(
            exchange="", routing_key=queue, body=f"this is not JSON {tag}".encode()
        )
        kinds.append("a body that is not JSON")
    click.echo(
        f"published {plural(len(kinds), 'bad message')} on purpose ({', '.join(kinds)}): each"
        " must be dead-lettered with its reason, not retried (the WARNING log lines about them"
        " are expected)"
    )


def precompute_lists(recs: Any) -> int | None:
    """Train the models on what landed, then refresh every user's lists as a tracked run; None
    when the world is too small to train on (the reads then serve nothing personal)."""
    from actors.recs.training import NotEnoughHistory, train_version
    from store.recs import users_to_refresh
    from workers.broker import database

    try:
        version = train_version()
    except NotEnoughHistory as error:
        click.echo(f"\n{error}: try a bigger world (--users, --days)")
        return None
    recs.sweep_changed_users()  # consume the change marks the ingested orders left
    fallbacks = recs.refresh_fallbacks()
    with database.unit_of_work(single_statement=True) as uow:
        users = users_to_refresh(uow.connection, None)
    run_id = recs.start_run("demo", users)
    click.echo(
        f"trained model {version}; {plural(fallbacks, 'cold-start list')} stored;"
        f" refresh run {run_id} for {plural(len(users), 'user')}"
    )
    return int(run_id)


def show_lists(database: Any, run_id: int) -> int | None:
    """The run's outcome and one user's surfaces, read as product teams read them."""
    from store import recs
    from store.recs import runs

    with database.unit_of_work(single_statement=True) as uow:
        status = runs.status(uow.connection, run_id) or {}
        row = recs.demo_user(uow.connection)
        if row is None:
            click.echo("no recommendation lists were computed")
            return None
        user, category, venue, cart = row
        found = [
            ("discovery", recs.read(uow.connection, user, "discovery")),
            (f"category {category}", recs.read(uow.connection, user, "category", category or 0)),
            (f"items at venue {venue}", recs.read(uow.connection, user, "items", venue)),
            (f"cart with items {cart}", recs.read_cart(uow.connection, user, cart or [])),
            ("brands", recs.read(uow.connection, user, "brands")),
            ("food categories (now)", recs.read(uow.connection, user, "food_categories")),
            ("banners", recs.read(uow.connection, user, "banners")),
        ]
    click.echo(
        f"\nrefresh run {run_id}: {status.get('done_chunks')}/{status.get('total_chunks')} chunks done,"
        f" {status.get('failed_chunks')} failed"
    )
    click.echo(f"\nuser {user}'s precomputed lists (ids, best first):")
    for name, result in found:
        kind = "-" if result is None else ("fallback" if result.fallback else "personal")
        click.echo(f"  {name:<28} {kind:<9} {result.ids[:8] if result else []}")
        if result is not None and result.propensities:
            shown = ", ".join(f"{p:.2f}" for p in result.propensities[:8])
            click.echo(f"  {'':<28} {'':<9} propensities logged with their impressions: {shown}")
    return int(user)


def show_api_key(database: Any, user: int | None) -> None:
    """The HTTP API needs a key, in development too: the demo makes one and says how to use it."""
    from domain.security.scopes import SCOPES
    from store.security import create_key

    with database.unit_of_work() as uow:
        token = create_key(uow.connection, "demo", list(SCOPES))
    path = f"/v1/users/{user or 1}/recommendations/discovery"
    click.echo(
        f"\nAPI key {token.key_id} (principal 'demo', scopes {', '.join(SCOPES)}; revoke it with"
        f" `larder keys revoke {token.key_id}`):\n  {token}\n"
        "`larder serve` on this database (DATABASE_URL), then:\n"
        f'  curl -H "Authorization: Bearer {token}" http://127.0.0.1:8000{path}\n'
        "  the support console: http://127.0.0.1:8000/inbox (sign in with the key)"
    )


def drain(broker: Any, worker: Any, workload: str) -> None:
    queue = queues.name(workload)
    if isinstance(broker, RabbitmqBroker):
        broker.join(queue, min_successes=20, idle_time=100, timeout=600_000)
    else:
        broker.join(queue, fail_fast=False, timeout=600_000)
    worker.join()


SHOWN_TABLES = (
    "cities",
    "brands",
    "food_categories",
    "venues",
    "items",
    "banners",
    "users",
    "orders",
    "order_lines",
    "activity_events",
    "processed_events",
    "rejected_messages",
    "model_versions",
    "recommendations",
    "user_changes",
)


def show(database: Any) -> None:
    from store import dead_letters, intake, tables

    with database.unit_of_work(single_statement=True) as uow:
        counts = tables.counts(uow.connection, SHOWN_TABLES)
        venues = intake.sample_venues(uow.connection, 3)
        orders = intake.latest_orders(uow.connection, 3)
        rejected = dead_letters.recent(uow.connection, 5)
    click.echo("\nwhat landed in Postgres:")
    for table, count in counts:
        click.echo(f"  {table:<18} {count:>9}")
    click.echo("\na few venues:")
    for venue_id, name, city_id, cuisines, rating in venues:
        click.echo(f"  venue {venue_id} {name!r} in city {city_id}: {cuisines}, rating {rating}")
    click.echo("\nlatest orders:")
    for order_id, user_id, venue_id, placed_at, lines in orders:
        click.echo(
            f"  order {order_id}: user {user_id} at venue {venue_id},"
            f" {placed_at:%Y-%m-%d %H:%M}, {plural(lines, 'line')}"
        )
    click.echo("\nrejected messages (dead-lettered, not retried; the bad ones published above):")
    for row in rejected:
        where = f"[{row['queue_name']}/{row['actor_name']}]"
        click.echo(wrapped(row["reason"], 100, f"  {where} ", " " * (len(where) + 3)))
