"""A newcomer's first run, as the README tells it, with the Procfile's real processes: a fresh
database, `larder db upgrade` (Procfile `release`), the `worker` and `scheduler` lines, then a
seeded world published through intake. Nobody runs `larder recs train` by hand: the scheduler
trains the first model once orders arrive, and every seeded user ends with lists, with nothing
dead-lettered on the way. (The last review found a fresh install that lost every refresh until
a manual train; this walks that path.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import psycopg
import pytest

from domain.recs.surfaces import STORED_NAMES as STORED
from store.server import drop_database
from tests.conftest import SERVER_URL, SESSION, wait_for
from tests.integration.programs.test_procfile_worker import free_port, procfile
from tests.support.paths import ROOT
from workers import queues

USERS = 150


@pytest.fixture
def fresh(postgres_server: str, rabbitmq: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a fresh install: its own database (not created yet) and queues."""
    url = SERVER_URL.rsplit("/", 1)[0] + f"/larder_first_{uuid.uuid4().hex[:8]}"
    prefix = f"t{SESSION}f."
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "DATABASE_URL": url,
        "LARDER_QUEUE_PREFIX": prefix,
        "LARDER_LOG_LEVEL": "INFO",
        "WORKER_PROCESSES": "1",
        "WORKER_THREADS": "4",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
        "dramatiq_prom_host": "127.0.0.1",
        "dramatiq_prom_port": str(free_port()),
        "SCHEDULER_METRICS_PORT": str(free_port()),
    }
    yield env
    _delete_queues(rabbitmq, prefix)
    drop_database(url)


def _delete_queues(url: str, prefix: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    for workload in queues.WORKLOADS:
        for suffix in ("", ".DQ", ".XQ"):
            channel.queue_delete(prefix + workload + suffix)
    connection.close()


def _dead_letters(url: str, prefix: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    waiting = 0
    for workload in queues.WORKLOADS:
        try:
            waiting += channel.queue_declare(
                prefix + workload + ".XQ", passive=True
            ).method.message_count
        except pika.exceptions.ChannelClosedByBroker:
            channel = connection.channel()  # never declared: nothing dead-lettered there
    connection.close()
    return waiting


def _query(url: str, sql: str) -> Any:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchone()[0]  # type: ignore[index]


def _run(command: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_the_readme_order_on_a_fresh_database_ends_with_every_users_lists(
    fresh: dict[str, str], rabbitmq: str, tmp_path: Path
) -> None:
    url = fresh["DATABASE_URL"]
    # Given a fresh install migrated by the Procfile's release step
    _run(["sh", "-c", procfile("release")], fresh)
    # And the Procfile's worker and scheduler running
    logs = {name: (tmp_path / f"{name}.log").open("wb") for name in ("worker", "scheduler")}
    processes = [
        subprocess.Popen(
            ["sh", "-c", procfile(name)],
            cwd=ROOT,
            env=fresh,
            start_new_session=True,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for name, log in logs.items()
    ]
    try:
        # When a world is seeded through intake, as the README says
        _run(["larder", "simulate", "world", "--users", str(USERS), "--venues", "30"], fresh)
        # Then, with nobody training by hand, every seeded user gets a row of every stored
        # surface (lists, brands, food categories, banners)
        wait_for(
            lambda: _query(url, "SELECT count(*) FROM recommendations") >= USERS * len(STORED),
            timeout=240,
            interval=1.0,
        )
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(timeout=120)
    scheduler_log = (tmp_path / "scheduler.log").read_text()
    # And the lists are the users' own, computed by the model the scheduler trained
    assert _query(url, "SELECT count(*) FROM model_versions WHERE active") == 1
    users = _query(url, "SELECT count(*) FROM users")
    assert users == USERS
    per_surface = "SELECT count(*) FROM recommendations WHERE surface = '{}'"
    assert {name: _query(url, per_surface.format(name)) for name in STORED} == dict.fromkeys(
        STORED, users
    )
    # And banners are served (a small world has four, some of their flights over by now)
    served = "SELECT count(*) FROM recommendations WHERE surface = 'banners' AND ids <> '{}'"
    assert _query(url, served) > 0
    # And nothing was dead-lettered, in Postgres's record or in RabbitMQ
    assert _query(url, "SELECT count(*) FROM rejected_messages") == 0
    assert _dead_letters(rabbitmq, fresh["LARDER_QUEUE_PREFIX"]) == 0
    # And the scheduler said what it would do, and what it did
    assert "periodic duties" in scheduler_log and "recs.retrain" in scheduler_log
    assert "asking for a new model version: the first orders" in scheduler_log
