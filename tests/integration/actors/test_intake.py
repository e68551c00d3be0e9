"""Event intake end to end: RabbitMQ -> Dramatiq worker -> Postgres, on the real services."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pika
from dramatiq.message import Message

from tests.conftest import scalar, wait_for
from tests.support import signing
from tests.support.factories import activity, batch, order, venue
from tests.support.paths import ROOT
from workers import queues

EVENTS = queues.name(queues.EVENTS)


def send(broker: Any, body: dict[str, Any], message_id: str | None = None) -> Message[Any]:
    message: Message[Any] = Message(
        queue_name=EVENTS,
        actor_name="ingest",
        args=(body,),
        kwargs={},
        options={},
        message_id=message_id or str(uuid.uuid4()),
    )
    return broker.enqueue(message)


def drain(broker: Any, worker: Any) -> None:
    broker.join(EVENTS, min_successes=5, idle_time=50, timeout=30_000)
    worker.join()


def snapshot(db: Any) -> dict[str, Any]:
    with db.engine.connect() as conn:
        return {
            table: conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1, 2").all()
            for table in ("venues", "orders", "order_lines", "activity_events")
        }


def test_single_event_lands_in_postgres(broker: Any, worker: Any, db: Any) -> None:
    # Given a venue event
    # When it is published as a single-event message
    send(broker, venue(venue_id=42, name="Pizza Place"))
    drain(broker, worker)
    # Then the venue row exists
    assert scalar(db, "SELECT name FROM venues WHERE venue_id = 42") == "Pizza Place"


def test_batch_of_1000_mixed_events_lands_whole(broker: Any, worker: Any, db: Any) -> None:
    # Given a batch of 1,000 events of three types
    events = [venue(f"v{i}", venue_id=i) for i in range(1, 201)]
    events += [order(f"o{i}", order_id=f"O{i}", user_id=i) for i in range(1, 401)]
    events += [activity(f"a{i}", user_id=i) for i in range(1, 401)]
    # When it is published as one message
    send(broker, batch(events))
    drain(broker, worker)
    # Then every event was applied once
    assert scalar(db, "SELECT count(*) FROM venues") == 200
    assert scalar(db, "SELECT count(*) FROM orders") == 400
    assert scalar(db, "SELECT count(*) FROM order_lines") == 800
    assert scalar(db, "SELECT count(*) FROM activity_events") == 400
    # (activity events are deduplicated by their own primary key, the rest via processed_events)
    assert scalar(db, "SELECT count(*) FROM processed_events") == 600


def test_same_message_twice_and_copies_at_once_leave_same_state(
    broker: Any, worker: Any, db: Any
) -> None:
    # Given a batch processed once
    body = batch(
        [venue(f"v{i}", venue_id=i) for i in range(1, 51)]
        + [order(f"o{i}", order_id=f"O{i}") for i in range(50)]
        + [activity(f"a{i}") for i in range(50)]
    )
    send(broker, body, message_id="fixed-id")
    drain(broker, worker)
    once = snapshot(db)
    # When the same message arrives again, and 12 more copies race across 4 threads
    for _ in range(13):
        send(broker, body, message_id="fixed-id")
    drain(broker, worker)
    # Then nothing changed
    assert snapshot(db) == once
    assert scalar(db, "SELECT count(*) FROM processed_events") == 100
    assert scalar(db, "SELECT count(*) FROM rejected_messages") == 0


def test_older_version_never_overwrites_newer(broker: Any, worker: Any, db: Any) -> None:
    # Given version 5 of a venue has landed
    send(broker, venue("new", venue_id=7, version=5, name="newest"))
    drain(broker, worker)
    # When an older version (3) arrives afterwards, then a newer one (6) in a batch with an old one
    send(broker, venue("old", venue_id=7, version=3, name="stale"))
    send(
        broker,
        batch(
            [
                venue("v6", venue_id=7, version=6, name="six"),
                venue("v4", venue_id=7, version=4, name="four"),
            ]
        ),
    )
    drain(broker, worker)
    # Then the highest version wins
    assert scalar(db, "SELECT name || ':' || version FROM venues WHERE venue_id = 7") == "six:6"


def test_invalid_message_is_dead_lettered_once_and_worker_keeps_going(
    broker: Any, worker: Any, db: Any
) -> None:
    # Given a message whose event has an out-of-range rating and an unknown field
    bad = venue(rating=7, colour="red")
    send(broker, bad, message_id="bad-1")
    # When it is processed, followed by a good message
    send(broker, venue("good", venue_id=2))
    drain(broker, worker)
    # Then the bad one is recorded with its reason, actor and queue, and not retried
    row = wait_for(lambda: _rejection(db, "bad-1"))
    assert row["queue_name"] == EVENTS and row["actor_name"] == "ingest"
    assert "rating" in row["reason"] and "colour" in row["reason"]
    assert json.loads(row["raw_body"])["args"][0]["rating"] == 7
    assert "retries" not in json.loads(row["raw_body"])["options"]
    # And the good one landed; the bad one sits in the dead-letter queue
    assert scalar(db, "SELECT count(*) FROM venues WHERE venue_id = 2") == 1
    assert broker.get_queue_message_counts(EVENTS)[2] == 1


def test_unknown_actor_is_dead_lettered_with_reason(broker: Any, worker: Any, db: Any) -> None:
    # Given a message addressed to an actor nobody defines
    broker.enqueue(
        Message(
            queue_name=EVENTS,
            actor_name="nope",
            args=(),
            kwargs={},
            options={},
            message_id="unknown-1",
        )
    )
    # When the worker receives it
    drain(broker, worker)
    # Then it is recorded as rejected
    row = wait_for(lambda: _rejection(db, "unknown-1"))
    assert "unknown actor" in row["reason"] and row["actor_name"] == "nope"


def test_non_json_and_oversized_bodies_are_dead_lettered(
    broker: Any, worker: Any, db: Any, rabbitmq: str
) -> None:
    # Given a non-JSON body and a body over the size limit, published raw
    from workers.broker import settings

    huge = json.dumps({"x": "y" * settings.max_message_bytes}).encode()
    _publish_raw(rabbitmq, [b"\xff not json at all", huge, b'{"queue_name": "only"}'])
    # When the worker consumes them
    wait_for(lambda: scalar(db, "SELECT count(*) FROM rejected_messages") == 3)
    # Then each is recorded with its queue and reason, and moved to the dead-letter queue
    with db.engine.connect() as conn:
        reasons = sorted(
            r
            for (r,) in conn.exec_driver_sql(
                "SELECT reason FROM rejected_messages WHERE queue_name = %(q)s", {"q": EVENTS}
            )
        )
    assert reasons[0].startswith("not a Dramatiq message")
    assert reasons[1].startswith("not a Dramatiq message")
    assert reasons[2].startswith("oversized payload")
    wait_for(lambda: broker.get_queue_message_counts(EVENTS)[2] == 3)


def test_the_readme_amqp_example_publishes_a_signed_event(
    broker: Any, worker: Any, db: Any, rabbitmq: str
) -> None:
    # Given workers that require signatures and know the key upstream-1
    with signing.policy(broker, required=True):
        # When the README's example runs as written, with this session's broker and queue
        code = readme_amqp_example()
        code = code.replace('"amqp://guest:guest@127.0.0.1:5672/%2F"', repr(rabbitmq))
        code = code.replace('QUEUE = "events"', f"QUEUE = {EVENTS!r}")
        exec(compile(code, "README.md", "exec"), {})
        # Then the user lands, and nothing was dead-lettered
        wait_for(lambda: scalar(db, "SELECT segment FROM users WHERE user_id = 1") == "regular")
    assert scalar(db, "SELECT count(*) FROM rejected_messages") == 0


def readme_amqp_example() -> str:
    """The python block of the README's AMQP contract section."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## AMQP contract for non-Python producers") :]
    block = section[section.index("```python\n") + len("```python\n") :]
    code = block[: block.index("```")]
    assert 'KEY_ID, KEY = "upstream-1", ' in code and "larder-signature" in code
    return code


def _publish_raw(url: str, bodies: list[bytes]) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    for body in bodies:
        channel.basic_publish("", EVENTS, body, pika.BasicProperties(delivery_mode=2))
    connection.close()


def _rejection(db: Any, message_id: str) -> dict[str, Any] | None:
    with db.engine.connect() as conn:
        row = (
            conn.exec_driver_sql(
                "SELECT * FROM rejected_messages WHERE message_id = %(m)s", {"m": message_id}
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None
