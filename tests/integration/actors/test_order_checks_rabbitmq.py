"""Order lifecycle events through RabbitMQ: `larder intake publish` routes them to the order_checks
actor, bad ones are dead-lettered, and the scheduler's sweep opens problems on time."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from dramatiq.message import Message

from programs.cli import main
from tests.conftest import scalar, wait_for
from tests.integration.actors.test_order_checks import problems
from tests.support.factories import venue
from tests.support.order_events import at, raw
from workers import clock, queues

ORDER_CHECKS = queues.name(queues.ORDER_CHECKS)
EVENTS = queues.name(queues.EVENTS)


@pytest.fixture
def now(db: Any) -> Iterator[clock.FixedClock]:
    fixed = clock.FixedClock(at(1))
    with clock.use(fixed):
        yield fixed


def drain(broker: Any, worker: Any) -> None:
    for queue in (EVENTS, ORDER_CHECKS):
        broker.join(queue, min_successes=5, idle_time=50, timeout=30_000)
    worker.join()


def lifecycle(order_id: str) -> list[dict[str, Any]]:
    return [
        raw("order.created", 1, 0, order_id=order_id),
        raw("payment.authorized", 2, 0.5, order_id=order_id),
    ]


def test_publish_routes_lifecycle_events_to_the_checks_in_batches(
    broker: Any, worker: Any, db: Any, now: clock.FixedClock, tmp_path: Path
) -> None:
    # Given a file where catalog events and 1,500 lifecycle events (750 orders) interleave
    lines: list[dict[str, Any]] = []
    for n in range(750):
        lines += [venue(f"v{n}", venue_id=n + 1), *lifecycle(f"O{n}")]
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    # When it is published
    result = CliRunner().invoke(main, ["intake", "publish", str(path)])
    # Then the venues went as one batch, the lifecycle events as batches of 1,000 and 500
    assert result.exit_code == 0, result.output
    assert "published 2250 events in 3 messages" in result.output
    drain(broker, worker)
    # And both actors applied their events
    assert scalar(db, "SELECT count(*) FROM venues") == 750
    assert scalar(db, "SELECT count(*) FROM order_states WHERE known") == 750
    assert scalar(db, "SELECT count(*) FROM processed_events") == 2250
    assert scalar(db, "SELECT count(*) FROM order_states WHERE next_due_at IS NOT NULL") == 750


def test_invalid_lifecycle_message_is_dead_lettered_not_retried(
    broker: Any, worker: Any, db: Any, now: clock.FixedClock
) -> None:
    # Given a batch whose second event has a negative sequence
    bad = {
        "type": "batch",
        "schema_version": 1,
        "events": [*lifecycle("GOOD"), raw("order.ready", -1, 3, order_id="GOOD")],
    }
    broker.enqueue(_message(bad, "lifecycle-bad"))
    # When the worker processes it, then a good message
    broker.enqueue(_message(lifecycle("OK")[0], str(uuid.uuid4())))
    drain(broker, worker)
    # Then the bad one is recorded with its reason and nothing of it was applied
    reason = wait_for(
        lambda: scalar(
            db, "SELECT reason FROM rejected_messages WHERE message_id = 'lifecycle-bad'"
        )
    )
    assert "sequence" in reason
    assert scalar(db, "SELECT actor_name || ' ' || queue_name FROM rejected_messages") == (
        f"check_order_events {ORDER_CHECKS}"
    )
    assert scalar(db, "SELECT count(*) FROM order_states WHERE order_id = 'GOOD'") == 0
    assert scalar(db, "SELECT count(*) FROM order_states WHERE order_id = 'OK'") == 1
    wait_for(lambda: broker.get_queue_message_counts(ORDER_CHECKS)[2] == 1)


def test_one_event_messages_waiting_are_merged_and_a_bad_one_dead_lettered_alone(
    broker: Any, worker: Any, db: Any, now: clock.FixedClock
) -> None:
    from prometheus_client import REGISTRY

    def merged() -> float:
        found = REGISTRY.get_sample_value("larder_messages_merged_total", {"queue": ORDER_CHECKS})
        return found or 0.0

    before = merged()
    # Given 150 one-event messages of 75 orders, and among them one with a negative sequence,
    # all waiting while the worker is paused
    worker.pause()
    try:
        for n in range(75):
            for event in lifecycle(f"M{n}"):
                broker.enqueue(_message(event, str(uuid.uuid4())))
            if n == 40:
                bad = raw("order.ready", -1, 3, order_id="M40")
                broker.enqueue(_message(bad, "one-bad-event"))
    finally:
        # When the worker resumes and finds them in its prefetch
        worker.resume()
    drain(broker, worker)
    # Then every good event was applied, through merged messages
    assert scalar(db, "SELECT count(*) FROM order_states WHERE known") == 75
    assert scalar(db, "SELECT count(*) FROM processed_events") == 150
    assert merged() > before
    # And the bad one alone was dead-lettered, with its reason
    rejected = wait_for(lambda: scalar(db, "SELECT count(*) FROM rejected_messages"))
    assert rejected == 1
    reason = scalar(db, "SELECT reason FROM rejected_messages WHERE message_id = 'one-bad-event'")
    assert "sequence" in reason


def test_scheduler_sweep_opens_a_problem_for_an_order_nobody_accepts(
    broker: Any, worker: Any, db: Any, now: clock.FixedClock
) -> None:
    # Given a paid order published through RabbitMQ, and the due time not reached yet
    for event in lifecycle("ORD-9"):
        broker.enqueue(_message(event, str(uuid.uuid4())))
    drain(broker, worker)
    CliRunner().invoke(main, ["scheduler", "--once"])
    assert problems(db) == []
    # When the clock passes the 5-minute threshold and the scheduler runs its duties once
    now.set(at(5.75))
    result = CliRunner().invoke(main, ["scheduler", "--once"])
    # Then the problem is open, detected a quarter of a minute after it became true
    assert result.exit_code == 0, result.output
    [problem] = problems(db)
    assert problem["rule"] == "venue_not_accepting" and problem["order_id"] == "ORD-9"
    assert (problem["opened_at"] - problem["since"]).total_seconds() == 15


def _message(body: dict[str, Any], message_id: str) -> Message[Any]:
    return Message(
        queue_name=ORDER_CHECKS,
        actor_name="check_order_events",
        args=(body,),
        kwargs={},
        options={},
        message_id=message_id,
    )
