"""Test isolation: one database per test session (migrated, truncated per test) and unique
queue names per session. Services are real; missing ones skip loudly locally, fail in CI."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from store.tables import metadata

SESSION = uuid.uuid4().hex[:8]
SERVER_URL = os.environ.get("LARDER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
TEST_DB_URL = SERVER_URL.rsplit("/", 1)[0] + f"/larder_test_{SESSION}"
QUEUE_PREFIX = f"t{SESSION}."  # the session's queues; a test that runs its own worker takes another

# Settings are read once per process, so the test environment is fixed before any import.
os.environ.update(
    {
        "LARDER_ENV": "test",
        "DATABASE_URL": TEST_DB_URL,
        "RABBITMQ_URL": RABBITMQ_URL,
        "LARDER_QUEUE_PREFIX": QUEUE_PREFIX,
        "LARDER_LOG_FORMAT": "text",
        "LARDER_LOG_LEVEL": "WARNING",
        "LARDER_MIN_BACKOFF_MS": "50",
        "LARDER_MAX_BACKOFF_MS": "1000",
    }
)

IN_CI = os.environ.get("CI", "").lower() == "true"
TABLES = ", ".join(sorted(metadata.tables))  # every table: nothing leaks between tests


def _require(name: str, answers: bool) -> None:
    if answers:
        return
    message = f"{name} is not answering on this machine: service tests cannot run"
    if IN_CI:
        pytest.fail(message + " (CI=true: a missing service is a failure)")
    pytest.skip("!!! SKIPPED: " + message + " (start it: see README)")


@pytest.fixture(scope="session")
def postgres_server() -> str:
    from store.server import postgres_answers

    _require("PostgreSQL", postgres_answers(SERVER_URL))
    return SERVER_URL


@pytest.fixture(scope="session")
def rabbitmq() -> str:
    from workers.services import rabbitmq_answers

    _require("RabbitMQ", rabbitmq_answers(RABBITMQ_URL))
    return RABBITMQ_URL


@pytest.fixture(scope="session")
def database(postgres_server: str) -> Iterator[Any]:
    """The session's own database, migrated with the real migrations."""
    from store import migrate
    from store.db import make_engine
    from store.server import drop_database, ensure_database
    from workers.broker import database as db

    ensure_database(TEST_DB_URL)
    migrate.upgrade(make_engine(TEST_DB_URL, 1))
    yield db
    db.dispose()
    drop_database(TEST_DB_URL)


@pytest.fixture
def db(database: Any) -> Any:
    """A clean database for this test."""
    _truncate(database)
    return database


def _truncate(database: Any, attempts: int = 5) -> None:
    """TRUNCATE every table. It takes an exclusive lock on each table in turn, so a straggler
    (a thread still finishing the last test's job) can deadlock with it: Postgres aborts one
    side, and when that is this side, try again."""
    import sqlalchemy.exc

    for attempt in range(attempts):
        try:
            with database.engine.begin() as conn:
                conn.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
                conn.exec_driver_sql(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
            return
        except sqlalchemy.exc.OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="session")
def rabbit_broker(rabbitmq: str) -> Iterator[Any]:
    import actors.intake
    import actors.order_checks  # noqa: F401  (the actor modules declare the session's queues)
    from workers.broker import broker

    yield broker
    broker.close()  # its queues go at the end of the session (tests/integration/conftest.py)


@pytest.fixture
def broker(rabbit_broker: Any, db: Any) -> Any:
    """The real RabbitMQ broker with this session's queues emptied, and a clean database."""
    import pika.exceptions

    try:
        rabbit_broker.flush_all()
    except pika.exceptions.AMQPError:  # its connection was closed meanwhile (another test
        del rabbit_broker.connection  # run's `rabbitmqctl close_all_connections`): reconnect
        rabbit_broker.flush_all()
    return rabbit_broker


@pytest.fixture(scope="session")
def session_worker(rabbit_broker: Any) -> Iterator[Any]:
    import dramatiq

    worker = dramatiq.Worker(rabbit_broker, worker_threads=4, worker_timeout=50)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def worker(broker: Any, session_worker: Any) -> Iterator[Any]:
    """An in-process worker (4 threads) consuming this session's queues. Afterwards the queues
    are emptied and the worker's in-flight work waited for: jobs a test left behind (a refresh
    its sweep enqueued) must not run into the next test's clean database."""
    yield session_worker
    broker.flush_all()
    _wait_idle(session_worker)


def _wait_idle(worker: Any, timeout: float = 30.0) -> None:
    """Like Worker.join(), but bounded: prefetched and delayed messages are done or gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        delayed = sum(c.delay_queue.unfinished_tasks for c in worker.consumers.values())
        if not delayed and not worker.work_queue.unfinished_tasks:
            return
        time.sleep(0.05)


def wait_for(check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll until check() is truthy; return its value or fail with the last one."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value:
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s (last value: {value!r})")
        time.sleep(interval)
        value = check()
    return value


def scalar(database: Any, sql: str, **params: Any) -> Any:
    with database.engine.connect() as conn:
        return conn.exec_driver_sql(sql, params or None).scalar()
