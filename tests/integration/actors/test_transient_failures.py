"""Transient failures (Postgres refusing connections, AMQP connections dropped) are retried
with backoff until they succeed; nothing is lost and nothing is dead-lettered."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from typing import Any

import psycopg
import pytest
from dramatiq.message import Message

from store.server import database_name
from tests.conftest import SERVER_URL, TEST_DB_URL, scalar, wait_for
from tests.support.factories import venue
from workers import queues

EVENTS = queues.name(queues.EVENTS)


def send_venues(broker: Any, ids: range) -> None:
    for i in ids:
        broker.enqueue(
            Message(
                queue_name=EVENTS,
                actor_name="ingest",
                args=(venue(f"v{i}", venue_id=i),),
                kwargs={},
                options={},
                message_id=str(uuid.uuid4()),
            )
        )


def set_database_open(is_open: bool) -> None:
    name = database_name(TEST_DB_URL)
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(is_open).lower()}')
        if not is_open:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )


def test_postgres_outage_is_retried_until_it_succeeds(broker: Any, worker: Any, db: Any) -> None:
    # Given Postgres refuses every connection to the database and drops the open ones
    set_database_open(False)
    try:
        # When 40 events arrive during the outage
        send_venues(broker, range(1, 41))
        time.sleep(1.5)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(TEST_DB_URL.replace("+psycopg", "")).close()
    finally:
        # And Postgres comes back
        set_database_open(True)
    # Then every event lands and nothing was dead-lettered
    wait_for(lambda: scalar(db, "SELECT count(*) FROM venues") == 40, timeout=30)
    assert scalar(db, "SELECT count(*) FROM rejected_messages") == 0


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="rabbitmqctl not installed")
def test_dropped_amqp_connections_lose_nothing(broker: Any, worker: Any, db: Any) -> None:
    # Given events being published and consumed
    # When RabbitMQ closes every client connection mid-stream (publisher's and consumers')
    closer = subprocess.Popen(
        ["rabbitmqctl", "close_all_connections", "larder test: dropped connection"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    send_venues(broker, range(1, 2001))
    assert closer.wait(timeout=60) == 0
    # And more events are published afterwards
    send_venues(broker, range(2001, 2401))
    # Then every event lands exactly once
    wait_for(lambda: scalar(db, "SELECT count(*) FROM venues") == 2400, timeout=90)
    assert scalar(db, "SELECT count(*) FROM processed_events") == 2400
    assert scalar(db, "SELECT count(*) FROM rejected_messages") == 0
