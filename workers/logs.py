"""Structured JSON logs carrying the current message's id, actor and queue, and the current
trace and span ids (workers/tracing.py)."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from dramatiq.broker import MessageProxy
from dramatiq.errors import ActorNotFound
from dramatiq.message import Message

from workers.tracing import current_ids

message_context: ContextVar[dict[str, str] | None] = ContextVar("message_context", default=None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            **(message_context.get() or {}),
            **current_ids(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class ExpectedRejections(logging.Filter):
    """Dramatiq logs a message for an unknown actor at ERROR with a traceback, as if the worker
    had failed. It is a rejection like an invalid message (which dramatiq logs at INFO, being
    one of the actor's `throws`): the DeadLetters middleware records it, counts it and logs a
    WARNING with its reason. This filter turns dramatiq's record into a WARNING without the
    traceback. Every other record passes unchanged: an actor's real failure still logs at
    ERROR with its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.name.startswith("dramatiq.")
            and record.exc_info
            and isinstance(record.exc_info[1], ActorNotFound)
        ):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = record.exc_text = None
        return True


def shown(value: Any) -> Any:
    """A log argument as it may be written: a Dramatiq message becomes its actor and id."""
    if isinstance(value, Message | MessageProxy):
        return f"{value.actor_name} message {value.message_id}"
    return value


class _NoMessageBodies:
    """A log record factory. Dramatiq logs the messages it handles with their arguments
    ("Failed to process message ingest({... 'home_lat': 60.17 ...})", at INFO for an invalid
    one, at ERROR for a failure): message bodies hold personal data (homes, orders, notes)
    and must not reach logs or Sentry. At creation, so every handler sees the record without
    them (Sentry's logging integration included), a message argument becomes its actor and
    id."""

    def __init__(self, factory: Any) -> None:
        self.factory = factory

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.factory(*args, **kwargs)
        if isinstance(record.args, tuple) and any(
            isinstance(a, Message | MessageProxy) for a in record.args
        ):
            record.args = tuple(shown(a) for a in record.args)
        return record


def without_message_bodies() -> None:
    """Install the record factory (once per process)."""
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _NoMessageBodies):
        logging.setLogRecordFactory(_NoMessageBodies(factory))


def configure(level: str = "INFO", fmt: str = "json") -> None:
    without_message_bodies()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ExpectedRejections())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("pika").setLevel(logging.WARNING)
