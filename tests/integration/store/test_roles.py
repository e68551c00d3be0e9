"""Least privilege in Postgres: `larder db roles` on the session's database, then each role
does its process's job and is refused the forbidden, against the real server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from click.testing import CliRunner

from store.security import roles
from tests.conftest import SESSION, TEST_DB_URL, _wait_idle, scalar, wait_for

PREFIX = f"larder_t{SESSION}_"
Denied = psycopg.errors.InsufficientPrivilege


def url_of(suffix: str) -> str:
    """The session database's URL for one of the roles (trust auth on this machine)."""
    parts = urlsplit(TEST_DB_URL)
    return parts._replace(netloc=f"{PREFIX}{suffix}@{parts.hostname}:{parts.port}").geturl()


@pytest.fixture(scope="module")
def role_urls(database: Any) -> Iterator[dict[str, str]]:
    """`larder db roles` (as the admin, with a password for the worker), then the URLs of the
    four roles; the roles go when the module ends (what they own back to the admin)."""
    from programs.cli import main
    from workers.settings import get_settings

    env = {"LARDER_DB_ROLE_PREFIX": PREFIX, "LARDER_DB_PASSWORD_WORKER": "w0rker-s3cret"}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["db", "roles"])
    finally:
        for name in env:
            del os.environ[name]
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert f"{PREFIX}worker (created): workers and scheduler" in result.output
    assert "w0rker-s3cret" not in result.output
    yield {suffix: url_of(suffix) for suffix in ("owner", "worker", "reader", "api")}
    with psycopg.connect(TEST_DB_URL, autocommit=True) as admin:
        roles.drop(admin, PREFIX)


@contextmanager
def connected(url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(url, autocommit=True) as connection:
        yield connection


def refused(url: str, statement: str) -> bool:
    """Whether Postgres refuses the statement to this role for want of privilege."""
    with connected(url) as connection:
        try:
            connection.execute(statement)
        except Denied:
            return True
    return False


def test_the_roles_exist_with_a_scram_password_and_the_owner_owns_the_tables(
    role_urls: dict[str, str], db: Any
) -> None:
    assert (
        scalar(
            db, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        )
        == f"{PREFIX}owner"
    )
    owners = scalar(
        db, "SELECT array_agg(DISTINCT tableowner) FROM pg_tables WHERE schemaname = 'public'"
    )
    assert owners == [f"{PREFIX}owner"]
    password = scalar(
        db, "SELECT rolpassword FROM pg_authid WHERE rolname = %(r)s", r=f"{PREFIX}worker"
    )
    assert password.startswith("SCRAM-SHA-256$")
    # And the database is closed to roles that were granted nothing
    assert (
        scalar(db, "SELECT has_database_privilege('public', current_database(), 'CONNECT')")
        is False
    )


def test_the_worker_cannot_change_the_schema_nor_read_api_keys(role_urls: dict[str, str]) -> None:
    worker = role_urls["worker"]
    # It does its DML
    with connected(worker) as connection:
        connection.execute(
            "INSERT INTO processed_events (event_id, event_type) VALUES ('roles-test', 'x')"
        )
        connection.execute("DELETE FROM processed_events WHERE event_id = 'roles-test'")
    # But no schema change, no truncation, no credentials, no faked migration
    assert refused(worker, "CREATE TABLE intruder (x int)")
    assert refused(worker, "ALTER TABLE venues ADD COLUMN x int")
    assert refused(worker, "DROP TABLE venues")
    assert refused(worker, "CREATE INDEX ON venues (name)")
    assert refused(worker, "TRUNCATE orders")
    assert refused(worker, "SELECT * FROM api_keys")
    assert refused(worker, "UPDATE alembic_version SET version_num = 'x'")


def test_the_reader_cannot_write_nor_read_order_histories_or_homes(
    role_urls: dict[str, str],
) -> None:
    reader = role_urls["reader"]
    for table in ("orders", "order_lines", "order_states", "activity_events", "api_keys"):
        assert refused(reader, f"SELECT * FROM {table} LIMIT 1"), table
    assert refused(reader, "SELECT home_lat, home_lon FROM users")
    assert refused(reader, "SELECT name FROM venues")
    assert refused(reader, "INSERT INTO recommendations (user_id, surface) VALUES (1, 'x')")
    assert refused(reader, "DELETE FROM fallback_recommendations")
    assert refused(reader, "UPDATE order_problems SET status = 'resolved'")
    assert refused(reader, "CREATE TABLE intruder (x int)")


def test_the_api_role_reads_keys_and_acts_on_the_inbox_only(role_urls: dict[str, str]) -> None:
    api = role_urls["api"]
    with connected(api) as connection:
        connection.execute("SELECT key_id, digest FROM api_keys")
        connection.execute("SELECT * FROM order_problems LIMIT 1")
    assert refused(
        api, "INSERT INTO api_keys (key_id, principal, digest, scopes) VALUES ('k', 'p', 'd', '{}')"
    )
    assert refused(api, "UPDATE api_keys SET revoked_at = NULL")
    assert refused(api, "SELECT * FROM recommendations LIMIT 1")
    assert refused(api, "SELECT * FROM orders LIMIT 1")
    assert refused(api, "DELETE FROM order_problems")
    assert refused(api, "DELETE FROM problem_history")


def test_the_owner_migrates_and_keeps_the_grants_in_step(role_urls: dict[str, str]) -> None:
    from store import migrate
    from store.db import make_engine

    owner = role_urls["owner"]
    engine = make_engine(owner, 1)
    try:
        # When the owner walks the last migration down and up again (api_keys dropped, recreated)
        migrate.upgrade(engine)
        migrate.downgrade(engine, "0009")
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    # Then, once the owner re-applies the description (`larder db upgrade` does), the new
    # table has exactly its grants again
    assert refused(role_urls["api"], "SELECT * FROM api_keys")
    assert roles.regrant(owner, PREFIX) is True
    with connected(role_urls["api"]) as connection:
        connection.execute("SELECT * FROM api_keys")
    assert refused(role_urls["worker"], "SELECT * FROM api_keys")


def test_every_process_does_its_job_as_its_own_role(
    role_urls: dict[str, str], broker: Any, worker: Any, db: Any
) -> None:
    """The workers, the scheduler and the HTTP API, each on its role's URL, work end to end."""
    from fastapi.testclient import TestClient

    import actors.recs
    from actors.order_checks import apply, sweep_order_checks
    from actors.recs.training import train_version
    from programs.cli import main
    from programs.http.app import create_app
    from store.db import Database
    from store.scheduling import Leases
    from synthetic.world import WorldConfig, generate
    from tests.integration.actors.test_order_checks import paid_order
    from tests.support.order_events import T0, at
    from workers import clock, queues, scheduling
    from workers.broker import database
    from workers.publishing import publish

    with as_role(database, role_urls["worker"]):
        # The workers: a world through intake, a model, lists, order checks
        end = datetime(2026, 1, 20, tzinfo=UTC)
        config = WorldConfig(cities=1, venues=12, users=40, days=14, seed=3, end=end)
        publish(broker, generate(config))
        wait_for(lambda: broker.get_queue_message_counts(queues.name(queues.EVENTS)) == (0, 0, 0))
        _wait_idle(worker)
        assert scalar(db, "SELECT count(*) FROM users") == 40
        train_version()
        actors.recs.refresh_fallbacks()
        actors.recs.refresh_lists.fn({"schema_version": 1, "user_ids": list(range(1, 41))})
        fixed = clock.FixedClock(T0)
        with clock.use(fixed):
            fixed.set(at(1))
            apply(paid_order("ORD-R"))
            fixed.set(at(6))
            sweep_order_checks()
        # The scheduler: every duty once, leading by advisory locks as the worker role
        leases = Leases(role_urls["worker"])
        try:
            scheduling.run(scheduling.registered(), leases, once=True)
        finally:
            leases.close()
    assert scalar(db, "SELECT count(*) FROM rejected_messages") == 0
    assert scalar(db, "SELECT count(*) FROM recommendations") > 0
    problem = scalar(db, "SELECT problem_id FROM order_problems WHERE order_id = 'ORD-R'")
    # An agent's key, made by the owner with `larder keys create`
    token = owner_creates_key(role_urls["owner"], main)
    # The web process: lists through the reader, keys and the inbox through the API's role
    reader, api = Database(role_urls["reader"], 2), Database(role_urls["api"], 2)
    user = scalar(db, "SELECT min(user_id) FROM recommendations WHERE surface = 'discovery'")
    # (read at the world's last lunchtime: what is open decides what a list shows)
    lunch = datetime(2026, 1, 19, 11, tzinfo=UTC)
    with TestClient(create_app(reader, api_database=api, clock=lambda: lunch)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        acked = client.post(
            f"/v1/inbox/{problem}/ack", json={"version": 1, "note": "on it"}, headers=headers
        )
        assert acked.status_code == 200 and acked.json()["acknowledged_by"] == "agent-roles"
        # the console's detail reads the order's timeline through the API's role
        detail = client.get(f"/v1/inbox/{problem}", headers=headers).json()
        assert detail["timeline"]["happened"][0]["type"] == "order.created"
        listed = client.get(f"/v1/users/{user}/recommendations/discovery", headers=headers)
        assert listed.status_code == 200 and listed.json()["ids"]
    reader.dispose()
    api.dispose()


@contextmanager
def as_role(database: Any, url: str) -> Iterator[None]:
    """The process's database (the actors' `workers.broker.database`) on another URL."""
    original = database._url
    database.dispose()
    database._url = url
    try:
        yield
    finally:
        database.dispose()
        database._url = original


SCOPE_ARGS = ("--scope", "lists:read", "--scope", "inbox:read", "--scope", "inbox:act")


def owner_creates_key(owner_url: str, main: Any) -> str:
    from workers.settings import get_settings

    os.environ["DATABASE_URL"] = owner_url
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            main,
            ["keys", "create", "agent-roles", *SCOPE_ARGS],
        )
    finally:
        os.environ["DATABASE_URL"] = TEST_DB_URL
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return result.output.splitlines()[2]
