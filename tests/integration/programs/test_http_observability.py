"""The HTTP app's probes and metrics against the real services: /readyz checks RabbitMQ,
Postgres and migrations at head (503 with the reason otherwise), /healthz stays liveness, and
/metrics times reads per endpoint template (not per user id)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from programs.http.app import create_app
from store.db import Database
from tests.conftest import RABBITMQ_URL, SERVER_URL, TEST_DB_URL
from workers import health


def readiness(database: Any, rabbitmq_url: str = RABBITMQ_URL) -> Any:
    return lambda: health.as_json(health.check(database, rabbitmq_url), detailed=False)


def test_readyz_is_ok_when_rabbitmq_postgres_and_migrations_are(db: Any, rabbitmq: str) -> None:
    # Given the app on the session's migrated database
    database = Database(TEST_DB_URL, 1)
    with TestClient(create_app(database, readiness=readiness(database))) as client:
        # When readiness is asked
        answer = client.get("/readyz")
    # Then every check passes, the migrations at this code's head
    assert answer.status_code == 200, answer.text
    checks = answer.json()["checks"]
    assert {name: check["ok"] for name, check in checks.items()} == {
        "rabbitmq": True,
        "postgres": True,
        "migrations": True,
    }
    assert answer.json()["status"] == "ok"


def test_readyz_is_503_with_the_reason_while_liveness_stays_ok(db: Any, rabbitmq: str) -> None:
    # Given an app whose database is not migrated (the server's `postgres` database) and whose
    # RabbitMQ URL points at a closed port
    database = Database(SERVER_URL, 1)
    broken = readiness(database, "amqp://guest:guest@127.0.0.1:1/%2F")
    with TestClient(create_app(database, readiness=broken)) as client:
        # When readiness and liveness are asked
        ready, live = client.get("/readyz"), client.get("/healthz")
    # Then readiness says what is wrong, and liveness is still fine
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["rabbitmq"]["ok"] is False
    assert checks["postgres"]["ok"] is True
    assert checks["migrations"]["ok"] is False
    # And says nothing more to whoever asks (no host, version or error text)
    assert "detail" not in ready.text and "127.0.0.1" not in ready.text
    assert live.status_code == 200


def test_larder_health_says_why(db: Any, rabbitmq: str) -> None:
    # Given the server's unmigrated `postgres` database
    database = Database(SERVER_URL, 1)
    # When the checks run as `larder health` runs them
    found = health.as_json(health.check(database, rabbitmq))
    database.dispose()
    # Then the migrations' check says what to do
    assert found["status"] == "unavailable"
    assert "larder db upgrade" in found["checks"]["migrations"]["detail"]


def test_metrics_time_reads_by_endpoint_template(db: Any) -> None:
    # Given the app
    with TestClient(create_app(Database(TEST_DB_URL, 1))) as client:
        # When two users' lists are asked for (without a key: refused, and still timed)
        statuses = {
            client.get(f"/v1/users/{user}/recommendations/discovery").status_code for user in (1, 2)
        }
        text = client.get("/metrics").text
    # Then one series counts both, under the path template and their status
    [status] = statuses
    line = (
        'larder_http_request_duration_seconds_count{endpoint="/v1/users/{user_id}/'
        f'recommendations/{{surface}}",method="GET",status="{status}"}}'
    )
    assert any(row.startswith(line) and float(row.split()[-1]) >= 2 for row in text.splitlines())
    assert "/v1/users/1/" not in text
