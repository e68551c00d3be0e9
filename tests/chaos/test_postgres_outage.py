"""Postgres stopped for 30 s under load: actors retry with backoff, everything completes once it
is back, nothing is dead-lettered for a transient fault."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pika

from tests.chaos import worlds
from tests.chaos.fleet import Fleet, query, wait_for
from tests.chaos.services import PrivatePostgres, PrivateRabbitMQ
from tests.chaos.test_worker_kills import applied_intake, assert_intake_exactly_once, published
from workers import queues

OUTAGE_S = 30.0


def dead_letters_waiting(url: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        return sum(
            int(channel.queue_declare(w + ".XQ", passive=True).method.message_count)
            for w in queues.WORKLOADS
        )
    finally:
        connection.close()


def test_postgres_stopped_30_s_under_load(
    fleet: Fleet, private: tuple[PrivatePostgres, PrivateRabbitMQ], scratch: Path, figures: Any
) -> None:
    postgres, rabbitmq = private
    # Given ~20k events published and the intake pool and a scheduler at work on them
    events = worlds.world(scratch / "world.jsonl", users=900)
    confirmed = published(
        fleet.run("larder", "intake", "publish", str(events.path), "--batch-size", "20")
    )
    worker = fleet.worker("intake")
    fleet.scheduler()
    url = fleet.database_url
    wait_for(lambda: applied_intake(url) > events.count // 4, 120, "a quarter applied")
    # When Postgres stops for 30 s, then comes back
    postgres.stop()
    time.sleep(OUTAGE_S)
    postgres.start()
    # Then every event is applied, once, and nothing was dead-lettered
    wait_for(lambda: applied_intake(url) == events.count, 240, "all applied")
    assert_intake_exactly_once(url, events)
    assert query(url, "SELECT count(*) FROM rejected_messages") == 0
    assert dead_letters_waiting(rabbitmq.url) == 0
    retries = worker.output().count("Retrying message")
    assert retries > 0, "the outage should have made actors retry"
    figures(
        published=events.count,
        confirmed=confirmed,
        applied=applied_intake(url),
        outage_s=OUTAGE_S,
        retries=retries,
    )
