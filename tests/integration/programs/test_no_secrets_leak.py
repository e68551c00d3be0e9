"""Known secret values set everywhere a process reads one (database and broker passwords, the
Sentry DSN, the signing key, a role's password, an API key), then every entry point driven as
ops run them: the CLI's commands, the Procfile's worker, scheduler and web processes, the demo,
and their failure paths. Nothing they wrote (stdout, stderr at DEBUG, HTTP answers, /metrics)
holds any of the secrets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import psycopg
import pytest

from store.security import roles
from tests.conftest import IN_CI, SESSION, TEST_DB_URL, scalar, wait_for
from tests.integration.programs.test_procfile_worker import free_port, procfile
from tests.support.factories import venue
from tests.support.paths import ROOT
from workers.broker_users import definitions
from workers.queues import delete_queues

PG_PASSWORD = "pg-S3CRET-7f1c"
RMQ_PASSWORD = "rmq-S3CRET-9a2b"
SENTRY_KEY = "sentryS3CRET0a1b"
SIGNING_KEY = "signing-S3CRET-0123456789abcdef"
ROLE_PASSWORD = "dbrole-S3CRET-55aa"
SECRETS = [PG_PASSWORD, RMQ_PASSWORD, SENTRY_KEY, SIGNING_KEY, ROLE_PASSWORD]
PREFIX = f"t{SESSION}s."
USERS = f"t{SESSION}-leak-"
ROLE_PREFIX = f"larder_t{SESSION}_leak_"


def with_password(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = f"{user}:{quote(password)}@{parts.hostname}:{parts.port}"
    return parts._replace(netloc=netloc).geturl()


class Scan:
    """What the processes wrote, by source; checked for the secrets at the end."""

    def __init__(self) -> None:
        self.written: dict[str, str] = {}

    def add(self, source: str, text: str) -> str:
        self.written[source] = self.written.get(source, "") + text
        return text

    def leaks(self, secrets: list[str], allowed: dict[str, str]) -> list[str]:
        found = []
        for source, text in self.written.items():
            for secret in secrets:
                if secret in text and allowed.get(source) != secret:
                    found.append(f"{secret!r} in {source}")
        return found


@pytest.fixture(scope="module")
def broker_user(rabbitmq: str) -> Iterator[str]:
    """A RabbitMQ worker user with a known password (the definitions of infra/)."""
    if os.geteuid() != 0:
        message = "rabbitmqctl (as root) is needed to create a user with a known password"
        if IN_CI:
            pytest.fail(message)
        pytest.skip("!!! SKIPPED: " + message)
    with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
        json.dump(definitions(PREFIX, USERS, "/", {"worker": RMQ_PASSWORD}), file)
        file.flush()
        os.chmod(file.name, 0o644)
        subprocess.run(
            ["rabbitmqctl", "import_definitions", file.name], check=True, capture_output=True
        )
    base = urlsplit(rabbitmq)
    url = f"amqp://{USERS}worker:{quote(RMQ_PASSWORD)}@{base.hostname}:{base.port}/%2F"
    from workers.services import rabbitmq_answers

    wait_for(lambda: rabbitmq_answers(url))
    yield url
    for suffix in ("producer", "worker", "monitor"):
        subprocess.run(["rabbitmqctl", "delete_user", f"{USERS}{suffix}"], capture_output=True)
    delete_queues(rabbitmq, PREFIX)


@pytest.fixture
def env(broker_user: str, db: Any) -> Iterator[dict[str, str]]:
    environment = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "DATABASE_URL": with_password(TEST_DB_URL, "postgres", PG_PASSWORD),
        "RABBITMQ_URL": broker_user,
        "SENTRY_DSN": f"https://{SENTRY_KEY}@127.0.0.1:9/1",
        "LARDER_SIGNING_KEYS": f"leak-1:{SIGNING_KEY}",
        "LARDER_SIGNATURES": "required",
        "LARDER_QUEUE_PREFIX": PREFIX,
        "LARDER_LOG_LEVEL": "DEBUG",
        "LARDER_LOG_FORMAT": "json",
        "LARDER_DB_ROLE_PREFIX": ROLE_PREFIX,
        "LARDER_DB_PASSWORD_WORKER": ROLE_PASSWORD,
    }
    yield environment
    with psycopg.connect(TEST_DB_URL, autocommit=True) as admin:
        roles.drop(admin, ROLE_PREFIX)


def larder(
    scan: Scan, env: dict[str, str], *args: str, **changes: str
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["larder", *args],
        env={**env, **changes},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    scan.add(f"larder {' '.join(args)} {sorted(changes)}", done.stdout + done.stderr)
    return done


@contextmanager
def running(scan: Scan, name: str, command: list[str], env: dict[str, str]) -> Iterator[None]:
    """A long-running process (a Procfile line) until the block ends; its output scanned."""
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
            log.seek(0)
            scan.add(name, log.read())


def fetch(
    scan: Scan, url: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> int:
    request = urllib.request.Request(url, data=body, headers=headers or {})
    if body is not None:
        request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            scan.add(f"HTTP {url}", str(response.headers) + response.read().decode())
            return int(response.status)
    except urllib.error.HTTPError as error:
        scan.add(f"HTTP {url}", str(error.headers) + error.read().decode())
        return int(error.code)
    except OSError:
        return 0


def test_no_entry_point_writes_a_secret(env: dict[str, str], db: Any, tmp_path: Path) -> None:
    scan = Scan()
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(venue(f"s{i}", venue_id=i)) for i in range(1, 6)))
    # The release, the roles, the keys
    assert larder(scan, env, "db", "upgrade").returncode == 0
    assert larder(scan, env, "db", "roles").returncode == 0
    assert larder(scan, env, "db", "check").returncode == 0
    created = larder(scan, env, "keys", "create", "scanner", "--scope", "lists:read",
                     "--scope", "inbox:read", "--scope", "inbox:act")  # fmt: skip
    token = created.stdout.splitlines()[2]
    assert larder(scan, env, "keys", "list").returncode == 0
    # The worker (Procfile), fed by `larder intake publish` (signed), and its /metrics
    metrics_port, web_port, scheduler_port = free_port(), free_port(), free_port()
    worker_env = {
        **env,
        "WORKER_PROCESSES": "1",
        "WORKER_THREADS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
        "dramatiq_prom_host": "127.0.0.1",
        "dramatiq_prom_port": str(metrics_port),
    }
    with running(scan, "worker", ["sh", "-c", procfile("worker")], worker_env):
        wait_for(lambda: larder(scan, env, "intake", "publish", str(events)).returncode == 0, 60)
        wait_for(lambda: scalar(db, "SELECT count(*) FROM venues") == 5, 60)
        wait_for(lambda: fetch(scan, f"http://127.0.0.1:{metrics_port}/") == 200, 30)
    assert larder(scan, env, "dlq", "list").returncode == 0
    assert larder(scan, env, "dlq", "list", "--json").returncode == 0
    assert larder(scan, env, "inbox", "list").returncode == 0
    assert larder(scan, env, "recs", "show", "1", "--surface", "discovery").returncode in (0, 1)
    # The scheduler (Procfile) and its /metrics
    scheduler = ["larder", "scheduler", "--metrics-port", str(scheduler_port)]
    with running(scan, "scheduler", scheduler, env):
        wait_for(lambda: fetch(scan, f"http://127.0.0.1:{scheduler_port}/") == 200, 60)
    # The web process (Procfile), asked with the key, with a wrong one, and without
    web = ["larder", "serve", "--port", str(web_port), "--access-log"]
    key = {"Authorization": f"Bearer {token}"}
    with running(scan, "web", web, env):
        base = f"http://127.0.0.1:{web_port}"
        wait_for(lambda: fetch(scan, f"{base}/healthz") == 200, 60)
        assert fetch(scan, f"{base}/v1/users/1/recommendations/discovery", key) == 404
        assert (
            fetch(
                scan, f"{base}/v1/users/1/recommendations/discovery", {"Authorization": "Bearer x"}
            )
            == 401
        )
        assert fetch(scan, f"{base}/v1/inbox", key) == 200
        assert fetch(scan, f"{base}/v1/inbox/1/ack", key, b'{"version": 1, "note": "n"}') == 404
        assert fetch(scan, f"{base}/openapi.json") == 200
    # The demo, on these services
    demo = larder(scan, env, "demo", "--users", "40", "--venues", "6", "--days", "14")
    assert demo.returncode == 0, (demo.stdout + demo.stderr)[-3000:]
    # And the failure paths: services that refuse, settings that do not parse
    down_db = with_password("postgresql://x@127.0.0.1:1/larder", "postgres", PG_PASSWORD)
    assert larder(scan, env, "dlq", "list", DATABASE_URL=down_db).returncode != 0
    down_mq = with_password("amqp://x@127.0.0.1:1/%2F", "larder", RMQ_PASSWORD)
    assert larder(scan, env, "intake", "publish", str(events), RABBITMQ_URL=down_mq).returncode != 0
    bad_key = f"leak-1:{SIGNING_KEY[:10]}"  # too short: refused at start-up
    assert larder(scan, env, "dlq", "list", LARDER_SIGNING_KEYS=bad_key).returncode != 0
    # Then nothing written anywhere holds a secret (the new key's token only where it is shown)
    assert len(scan.written) >= 20
    allowed = {next(s for s in scan.written if s.startswith("larder keys create")): token}
    assert scan.leaks([*SECRETS, SIGNING_KEY[:10], token], allowed) == []
