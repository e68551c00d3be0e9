"""Readiness: can this process do its work now? RabbitMQ answers, Postgres answers, and the
database is migrated to this code's head (`larder health`, HTTP `/readyz`). Liveness
(`/healthz`) is only "the process answers": a database outage must not get every pod
restarted, only taken out of the load balancer."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    elapsed_ms: float


def _timed(name: str, probe: Callable[[], str]) -> Check:
    started = time.perf_counter()
    try:
        detail, ok = probe(), True
    except Exception as error:
        detail, ok = _first_line(error), False
    return Check(name, ok, detail, (time.perf_counter() - started) * 1000)


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def rabbitmq(url: str, timeout_s: float = 2.0) -> Check:
    """RabbitMQ answers at `url`, with the settings' TLS files (workers/amqp.py)."""

    def probe() -> str:
        import pika

        from workers.amqp import parameters
        from workers.settings import get_settings

        settings = get_settings()
        params = parameters(
            url, settings.amqp_ca_file, settings.amqp_cert_file, settings.amqp_key_file
        )
        params.socket_timeout = params.blocked_connection_timeout = timeout_s
        params.connection_attempts = 1
        pika.BlockingConnection(params).close()
        return f"answers at {params.host}:{params.port}"

    return _timed("rabbitmq", probe)


def postgres_and_migrations(database: Any) -> list[Check]:
    """Postgres answers; the database is at this code's head revision."""
    import logging

    from store import migrate

    logging.getLogger("alembic").setLevel(logging.WARNING)  # a line per probe otherwise
    current: list[str | None] = []

    def answers() -> str:
        current.append(migrate.current_revision(database.engine))
        url = database.engine.url
        return f"answers at {url.host}:{url.port}/{url.database}"

    reached = _timed("postgres", answers)
    if not reached.ok:
        return [reached, Check("migrations", False, "unknown: Postgres does not answer", 0.0)]

    def at_head() -> str:
        head = migrate.head_revision()
        if current[0] != head:
            raise RuntimeError(f"at {current[0] or 'nothing'}, head is {head}: larder db upgrade")
        return f"at head {head}"

    return [reached, _timed("migrations", at_head)]


def check(database: Any, rabbitmq_url: str) -> list[Check]:
    return [rabbitmq(rabbitmq_url), *postgres_and_migrations(database)]


def as_json(checks: list[Check], detailed: bool = True) -> dict[str, Any]:
    """The checks as JSON; without `detailed` (HTTP /readyz, which answers anyone: a probe
    carries no key) only whether each passed, never hosts, versions or error texts."""
    return {
        "status": "ok" if all(c.ok for c in checks) else "unavailable",
        "checks": {
            c.name: (
                {"ok": c.ok, "detail": c.detail, "ms": round(c.elapsed_ms, 1)}
                if detailed
                else {"ok": c.ok}
            )
            for c in checks
        },
    }
