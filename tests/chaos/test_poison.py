"""Poison messages among good ones: each is dead-lettered with its reason, while the good
messages around it flow at the rate of a clean run (both rates measured in the same test, on
the same worker: a figure of the report, not a timed assertion)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pika

from tests.chaos import worlds
from tests.chaos.fleet import Fleet, query, wait_for
from tests.chaos.services import PrivatePostgres, PrivateRabbitMQ
from tests.chaos.test_postgres_outage import dead_letters_waiting
from tests.chaos.test_worker_kills import applied_intake
from workers.publishing import batches

MAX_BYTES = 65_536


def poison(n: int) -> tuple[bytes, str]:
    """The n-th poison message and the reason kind it must be dead-lettered with."""
    envelope = {
        "queue_name": "events",
        "actor_name": "ingest",
        "args": [{"type": "venue.upserted", "schema_version": 1, "event_id": f"p{n}"}],
        "kwargs": {},
        "options": {},
        "message_id": f"poison-{n}-{uuid.uuid4().hex[:6]}",
        "message_timestamp": int(time.time() * 1000),
    }
    kind = n % 4
    if kind == 0:
        return f"{{not json {n}".encode(), "not a Dramatiq message"
    if kind == 1:
        return json.dumps({**envelope, "actor_name": "no_such_actor"}).encode(), "unknown actor"
    if kind == 2:
        return json.dumps(envelope).encode(), "invalid message"
    padded = {**envelope, "args": [{"type": "activity", "blob": "x" * (MAX_BYTES + 10)}]}
    return json.dumps(padded).encode(), "oversized"


def send(url: str, bodies: list[bytes]) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.confirm_delivery()
    for body in bodies:
        channel.basic_publish("", "events", body, pika.BasicProperties(delivery_mode=2))
    connection.close()


def drain(fleet: Fleet, target: int) -> float:
    """Start the intake pool on the waiting messages; seconds from its first event applied
    (its boot left out) until `target` events are."""
    before = applied_intake(fleet.database_url)
    worker = fleet.worker("intake", LARDER_MAX_MESSAGE_BYTES=str(MAX_BYTES))
    wait_for(lambda: applied_intake(fleet.database_url) > before, 60, "the first applied", 0.02)
    started = time.monotonic()
    wait_for(lambda: applied_intake(fleet.database_url) >= target, 240, f"{target} applied", 0.05)
    elapsed = time.monotonic() - started
    worker.terminate()
    worker.wait(60)
    return elapsed


def test_poison_is_dead_lettered_and_the_rest_flows(
    fleet: Fleet, private: tuple[PrivatePostgres, PrivateRabbitMQ], scratch: Path, figures: Any
) -> None:
    _, rabbitmq = private
    events = worlds.world(scratch / "world.jsonl", users=1200)
    half = events.count // 2
    # the CLI's batches, on the private broker's unprefixed queue
    messages = [m.copy(queue_name="events").encode() for m in batches(events.events, 50)]
    clean, mixed = messages[: len(messages) // 2], messages[len(messages) // 2 :]
    clean_events = sum(len(json.loads(m)["args"][0].get("events", [None])) for m in clean)
    # Given a clean half, drained by a fresh worker: the rate without poison
    send(rabbitmq.url, clean)
    clean_s = drain(fleet, clean_events)
    # And the other half with a poison message after every 4 good ones (4 kinds)
    bodies: list[bytes] = []
    reasons: list[str] = []
    for n, body in enumerate(mixed):
        bodies.append(body)
        if n % 4 == 3:
            bad, reason = poison(len(reasons))
            bodies.append(bad)
            reasons.append(reason)
    send(rabbitmq.url, bodies)
    # When a fresh worker drains it
    mixed_s = drain(fleet, events.count)
    url = fleet.database_url
    # Then every good event is applied, and every poison message is dead-lettered with its
    # reason
    assert applied_intake(url) == events.count
    recorded = [r for (r,) in _rows(url, "SELECT reason FROM rejected_messages")]
    assert len(recorded) == len(reasons)
    for reason in set(reasons):
        assert sum(r.startswith(reason) for r in recorded) == reasons.count(reason), reason
    wait_for(lambda: dead_letters_waiting(rabbitmq.url) == len(reasons), 30, "in the DLQ")
    clean_rate = clean_events / clean_s
    mixed_rate = (events.count - clean_events) / mixed_s
    figures(
        published=events.count,
        confirmed=events.count,
        applied=applied_intake(url),
        poison=len(reasons),
        dead_lettered=int(query(url, "SELECT count(*) FROM rejected_messages")),
        clean_events_per_s=round(clean_rate),
        with_poison_events_per_s=round(mixed_rate),
        rate_ratio=round(mixed_rate / clean_rate, 2),
        half=half,
    )


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    from tests.chaos.fleet import rows

    return rows(url, sql)
