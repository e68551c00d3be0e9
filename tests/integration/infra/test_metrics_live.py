"""The dashboard and the alert rules read only metrics larder really exports: the Procfile's
worker and scheduler and the HTTP app run against the real services, traffic makes every
series appear (events ingested and rejected, a retried failure, a refresh with a model, a
problem opened and resolved, a tracked run, a read), and their live `/metrics` are scraped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import pytest
from fastapi.testclient import TestClient

from programs.http.app import create_app
from store.db import Database
from tests.conftest import SESSION, TEST_DB_URL, scalar, wait_for
from tests.integration.programs.test_procfile_worker import (
    free_port,
    procfile,
    procfile_env,
    queue_declared,
)
from tests.integration.store.recs.test_registry import load_history
from tests.support import promql
from tests.support.api import keyed
from tests.support.factories import venue
from tests.support.order_events import iso, raw
from tests.support.paths import ROOT
from workers.queues import delete_queues

PREFIX = f"t{SESSION}m."


def envelope(queue: str, actor: str, args: list[Any], message_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "queue_name": PREFIX + queue,
            "actor_name": actor,
            "args": args,
            "kwargs": {},
            "options": {},
            "message_id": message_id or str(uuid.uuid4()),
            "message_timestamp": int(time.time() * 1000),
        }
    ).encode()


def send(url: str, queue: str, bodies: list[bytes]) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    for body in bodies:
        channel.basic_publish("", PREFIX + queue, body, pika.BasicProperties(delivery_mode=2))
    connection.close()


QUEUES = ("events", "recs", "order_checks", "maintenance")


def scrape(port: int, path: str = "/") -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return str(response.read().decode())
    except OSError:
        return ""


@pytest.fixture
def processes(db: Any, rabbitmq: str, tmp_path: Path) -> Iterator[tuple[int, int]]:
    """The Procfile's worker and scheduler on queues of their own; (worker port, scheduler port)."""
    worker_port, scheduler_port = free_port(), free_port()
    env = procfile_env(PREFIX, tmp_path, worker_port, threads=4)
    env["SCHEDULER_METRICS_PORT"] = str(scheduler_port)
    started = [
        subprocess.Popen(["sh", "-c", procfile(name)], cwd=ROOT, env=env, start_new_session=True)
        for name in ("worker", "scheduler")
    ]
    try:
        yield worker_port, scheduler_port
    finally:
        for process in started:
            os.killpg(process.pid, signal.SIGTERM)
        for process in started:
            process.wait(timeout=120)
        delete_queues(rabbitmq, PREFIX)


def test_every_metric_the_dashboard_and_alerts_read_is_in_a_live_scrape(
    processes: tuple[int, int], db: Any, rabbitmq: str, tmp_path: Path
) -> None:
    worker_port, scheduler_port = processes
    # Given a trained model (its users have orders) and a tracked refresh run
    load_history(db, tmp_path)
    from actors.recs import start_run
    from actors.recs.training import train_version

    train_version()
    # (a message published before its queue exists is dropped: wait for the worker's queues)
    wait_for(lambda: all(queue_declared(rabbitmq, PREFIX + q) for q in QUEUES), timeout=90)
    start_run("metrics test", [1, 2, 3], 3)  # its job goes to the session's queue: it waits
    # When traffic passes through the worker: events, an invalid one, a refresh with its change
    # mark, a failing job that is retried then dead-lettered, an order that opens a problem
    # and one that resolves it
    send(rabbitmq, "events", [envelope("events", "ingest", [venue("m-v", venue_id=5)])])
    send(rabbitmq, "events", [envelope("events", "ingest", [venue("m-bad", rating=-1)])])
    job = {"schema_version": 1, "user_ids": [1, 2, 3], "changed_at": iso(0)}
    send(rabbitmq, "recs", [envelope("recs", "refresh_lists", [job])])
    send(rabbitmq, "maintenance", [envelope("maintenance", "prune_processed_events", ["x"])])
    paid = [
        raw(kind, sequence, sequence / 2, order_id=order)
        for order in ("M-1", "M-2")
        for sequence, kind in enumerate(("order.created", "payment.authorized"), 1)
    ]
    batch = {"type": "batch", "schema_version": 1, "events": paid}
    send(rabbitmq, "order_checks", [envelope("order_checks", "check_order_events", [batch])])
    wait_for(lambda: scalar(db, "SELECT count(*) FROM order_problems") >= 2, timeout=60)
    # And an agent acknowledges one problem and resolves the other in the console's API
    agent = keyed(db, "metrics-agent", "inbox:read", "inbox:act")
    with TestClient(create_app(Database(TEST_DB_URL, 1)), headers=agent) as client:
        for order, action in (("M-1", "ack"), ("M-2", "resolve")):
            problem, version = row(db, order)
            acted = client.post(f"/v1/inbox/{problem}/{action}", json={"version": version})
            assert acted.status_code == 200, acted.text
        inbox_web = client.get("/metrics").text
    accept = raw("venue.accepted", 3, 1, order_id="M-1", estimated_ready_at=iso(20))
    send(rabbitmq, "order_checks", [envelope("order_checks", "check_order_events", [accept])])
    wait_for(lambda: scalar(db, "SELECT count(*) FROM rejected_messages") >= 2, timeout=60)
    # And a read is served
    with TestClient(create_app(Database(TEST_DB_URL, 1))) as client:
        client.get("/v1/users/1/recommendations/discovery")
        web = client.get("/metrics").text
    # Then every metric the dashboard and the alerts read is in one of the scrapes
    wanted = promql.referenced_families()

    def missing() -> set[str]:
        scraped = scrape(worker_port) + scrape(scheduler_port) + web + inbox_web
        seen = promql.scraped_families(scraped)
        return wanted - seen

    try:
        wait_for(lambda: not missing(), timeout=60, interval=1.0)
    except pytest.fail.Exception:
        pytest.fail(f"not exported by any process: {sorted(missing())}")


def row(db: Any, order_id: str) -> tuple[int, int]:
    """The first open problem of `order_id`: its id and the version an agent sees."""
    query = (
        "SELECT problem_id, version FROM order_problems"
        " WHERE order_id = %s AND status = 'open' ORDER BY problem_id LIMIT 1"
    )
    with db.engine.connect() as conn:
        problem, version = conn.exec_driver_sql(query, (order_id,)).one()
    return int(problem), int(version)
