"""Cross-cutting concerns as Dramatiq middleware: log context, DB lifecycle, dead letters,
and the retry policy (only transient failures are retried)."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

import dramatiq
import pika.exceptions
import psycopg
import sqlalchemy.exc
from dramatiq.errors import ActorNotFound, BrokerConnectionError

from schemas import InvalidMessage
from store import dead_letters
from store.db import Database
from workers import metrics
from workers.logs import message_context

log = logging.getLogger("larder.middleware")

STORED_BODY_LIMIT = 64 * 1024

TRANSIENT = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    pika.exceptions.AMQPError,
    BrokerConnectionError,
    ConnectionError,
    TimeoutError,
)


def is_transient(error: BaseException) -> bool:
    if isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, TRANSIENT)


def retry_policy(max_unexpected: int) -> Any:
    """Transient failures retry until they succeed (backoff is capped); invalid input never
    retries; anything else (a bug) retries a few times, then is dead-lettered with its reason."""

    def retry_when(retries: int, error: BaseException) -> bool:
        if isinstance(error, InvalidMessage):
            return False
        return is_transient(error) or retries < max_unexpected

    return retry_when


class LogContext(dramatiq.Middleware):
    """Puts message id, actor and queue on every log line written while a message runs."""

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        message_context.set(
            {
                "message_id": message.message_id,
                "actor": message.actor_name,
                "queue": message.queue_name,
            }
        )

    def after_process_message(self, broker: dramatiq.Broker, message: Any, **_: Any) -> None:
        message_context.set(None)

    after_skip_message = after_process_message


class DatabaseLifecycle(dramatiq.Middleware):
    """Owns the worker's engine: created lazily per process, disposed at shutdown."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        self.database.dispose()  # never share a pool inherited across fork

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        self.database.dispose()


class DeadLetters(dramatiq.Middleware):
    """Records every dead-lettered message (reason, actor, queue, body, time) in Postgres and
    counts it. Messages that fail before reaching an actor come in through `reject_raw`.
    With `redact`, a body is stored as its length and digest only (bodies hold personal data:
    homes, orders); the scheduler prunes records past their retention either way."""

    def __init__(
        self, database: Database, record_timeout_s: float = 30.0, redact: bool = False
    ) -> None:
        self.database = database
        self.record_timeout_s = record_timeout_s
        self.redact = redact

    def before_nack(self, broker: dramatiq.Broker, message: Any) -> None:
        error = getattr(message, "_exception", None)
        kind, reason = classify(error)
        body = dict(message.asdict())
        body["options"] = {k: v for k, v in body["options"].items() if k != "traceback"}
        rejection = {
            "fingerprint": dead_letters.message_fingerprint(message.queue_name, message.message_id),
            "message_id": message.message_id,
            "queue_name": message.queue_name,
            "actor_name": message.actor_name,
            "reason": reason,
            "raw_body": self._stored(json.dumps(body, default=str).encode()),
        }
        self._record_with_retry(rejection, kind)

    def reject_raw(self, queue_name: str, body: bytes, kind: str, reason: str) -> None:
        """For bodies that never became a message. Raises if Postgres cannot take it, so the
        caller leaves the delivery unacked and RabbitMQ redelivers it later."""
        rejection = {
            "fingerprint": dead_letters.raw_fingerprint(queue_name, body),
            "message_id": None,
            "queue_name": queue_name,
            "actor_name": None,
            "reason": reason,
            "raw_body": self._stored(body),
        }
        self._record(rejection, kind)

    def _stored(self, body: bytes) -> str:
        if self.redact:
            return f"[redacted: {len(body)} bytes, sha256 {hashlib.sha256(body).hexdigest()}]"
        return body[:STORED_BODY_LIMIT].decode("utf-8", errors="replace")

    def _record_with_retry(self, rejection: dict[str, Any], kind: str) -> None:
        deadline = time.monotonic() + self.record_timeout_s
        delay = 0.1
        while True:
            try:
                self._record(rejection, kind)
                return
            except Exception:
                if time.monotonic() > deadline:
                    log.critical("could not record rejection of %s", rejection["message_id"])
                    return
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _record(self, rejection: dict[str, Any], kind: str) -> None:
        with self.database.unit_of_work() as uow:
            dead_letters.record(uow.connection, rejection)
        metrics.REJECTED.labels(rejection["queue_name"], rejection["actor_name"] or "", kind).inc()
        what = (
            f"message {rejection['message_id']} (actor {rejection['actor_name']})"
            if rejection["message_id"]
            else "a raw delivery"
        )
        log.warning(
            "dead-lettered %s on %s: %s", what, rejection["queue_name"], rejection["reason"]
        )


def classify(error: BaseException | None) -> tuple[str, str]:
    """(kind, reason) for a dead-lettered message."""
    if isinstance(error, InvalidMessage):
        return "invalid", f"invalid message: {error.reason}"
    if isinstance(error, ActorNotFound):
        return "unknown_actor", f"unknown actor: {error}"
    if error is None:
        return "failed", "failed without an exception"
    return "retries_exhausted", f"gave up after retries: {type(error).__name__}: {error}"
