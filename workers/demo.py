"""`larder demo`: the fleet end to end on whatever answers — the configured RabbitMQ and
Postgres, or an embedded default (embedded Postgres, Dramatiq's in-memory broker)."""

from __future__ import annotations

import os
import uuid
from typing import Any

import click
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from workers import queues
from workers.settings import get_settings


def choose_services() -> None:
    """Point settings at what answers; one line per fallback taken. Must run before the
    broker module is imported, since settings are read once."""
    from workers.services import postgres_answers, rabbitmq_answers, start_embedded_postgres

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
        show(database)
        run_id = precompute_lists(actors.recs)
        drain(broker, worker, queues.RECS)
    finally:
        worker.stop()
    show_lists(database, run_id)


def migrate(url: str) -> None:
    from store import migrate as migrations
    from store.db import make_engine
    from workers.services import ensure_database

    ensure_database(url)
    migrations.upgrade(make_engine(url, 1))
    click.echo("database migrated")


def publish_world(broker: Any, users: int, venues: int, days: int) -> None:
    from domain.world import WorldConfig, generate
    from workers.publishing import publish

    config = WorldConfig(users=users, venues=venues, days=days)
    report = publish(broker, generate(config))
    click.echo(f"published {report.events} events in {report.messages} messages")


def publish_bad_messages(broker: Any) -> None:
    """Three messages that must be dead-lettered with their reason, not retried."""
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
    if isinstance(broker, RabbitmqBroker):
        broker.channel.basic_publish(
            exchange="", routing_key=queue, body=f"this is not JSON {tag}".encode()
        )
    click.echo("published bad messages (invalid event, unknown actor, non-JSON body on RabbitMQ)")


def precompute_lists(recs: Any) -> int:
    """Train the models on what landed, then refresh every user's lists as a tracked run."""
    from actors.training import train_version
    from store.recs import users_to_refresh
    from workers.broker import database

    version = train_version()
    recs.sweep_changed_users()  # consume the change marks the ingested orders left
    fallbacks = recs.refresh_fallbacks()
    with database.unit_of_work(single_statement=True) as uow:
        users = users_to_refresh(uow.connection, None)
    run_id = recs.start_run("demo", users)
    click.echo(
        f"\ntrained model {version}; {fallbacks} cold-start lists stored;"
        f" refresh run {run_id} for {len(users)} users"
    )
    return int(run_id)


def show_lists(database: Any, run_id: int) -> None:
    """The run's outcome and one user's four surfaces, read as product teams read them."""
    from store import recs, runs

    with database.unit_of_work(single_statement=True) as uow:
        status = runs.status(uow.connection, run_id) or {}
        row = uow.connection.execute(queries_demo_user()).fetchone()
        if row is None:
            click.echo("no recommendation lists were computed")
            return
        user, category, venue, cart = row
        found = [
            ("discovery", recs.read(uow.connection, user, "discovery")),
            (f"category {category}", recs.read(uow.connection, user, "category", category or 0)),
            (f"items at venue {venue}", recs.read(uow.connection, user, "items", venue)),
            (f"cart with items {cart}", recs.read_cart(uow.connection, user, cart or [])),
        ]
    click.echo(
        f"run {run_id}: {status.get('done_chunks')}/{status.get('total_chunks')} chunks done,"
        f" {status.get('failed_chunks')} failed"
    )
    click.echo(f"\nuser {user}'s precomputed lists (ids, best first):")
    for name, result in found:
        kind = "-" if result is None else ("fallback" if result.fallback else "personal")
        click.echo(f"  {name:<28} {kind:<9} {result.ids[:8] if result else []}")


def queries_demo_user() -> str:
    """A user with an items list, one of their category lists, and a cart: the items of their
    last order at that venue that have complements (preferring users who have all three)."""
    return """
        SELECT user_id, category, venue_id, cart FROM (
            SELECT r.user_id, v.venue_id,
                   (SELECT c.contexts[1] FROM recommendations c
                    WHERE c.user_id = r.user_id AND c.surface = 'category') AS category,
                   (SELECT array_agg(l.item_id) FROM order_lines l
                    WHERE l.order_id = (SELECT order_id FROM orders o
                                        WHERE o.user_id = r.user_id AND o.venue_id = v.venue_id
                                        ORDER BY placed_at DESC LIMIT 1)
                      AND EXISTS (SELECT 1 FROM fallback_recommendations f
                                  WHERE f.surface = 'cart' AND f.context = l.item_id)) AS cart
            FROM recommendations r, unnest(r.contexts) AS v(venue_id) WHERE r.surface = 'items'
        ) candidates
        ORDER BY category IS NULL, cart IS NULL, user_id, venue_id
        LIMIT 1
    """


def drain(broker: Any, worker: Any, workload: str) -> None:
    queue = queues.name(workload)
    if isinstance(broker, RabbitmqBroker):
        broker.join(queue, min_successes=20, idle_time=100, timeout=600_000)
    else:
        broker.join(queue, fail_fast=False, timeout=600_000)
    worker.join()


def show(database: Any) -> None:
    from store import queries

    with database.engine.connect() as conn:
        counts = conn.exec_driver_sql(queries.TABLE_COUNTS).all()
        venues = conn.exec_driver_sql(
            "SELECT venue_id, name, city_id, cuisines, rating FROM venues ORDER BY venue_id LIMIT 3"
        ).all()
        orders = conn.exec_driver_sql(
            "SELECT o.order_id, o.user_id, o.venue_id, o.placed_at, count(*) AS lines"
            " FROM orders o JOIN order_lines USING (order_id)"
            " GROUP BY o.order_id ORDER BY o.placed_at DESC, o.order_id LIMIT 3"
        ).all()
        rejected = conn.exec_driver_sql(queries.RECENT_REJECTIONS, {"limit": 5}).mappings().all()
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
            f" {placed_at:%Y-%m-%d %H:%M}, {lines} lines"
        )
    click.echo("\nrejected messages (dead-lettered, not retried):")
    for row in rejected:
        click.echo(f"  [{row['queue_name']}/{row['actor_name']}] {row['reason'][:110]}")
