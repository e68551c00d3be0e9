"""Structured logs: one JSON object per line, carrying the current message's context."""

from __future__ import annotations

import json
import logging

from workers.logs import JsonFormatter, message_context
from workers.middleware import LogContext


class _Message:
    message_id = "m-1"
    actor_name = "ingest"
    queue_name = "events"


def _format(msg: str) -> dict[str, object]:
    record = logging.LogRecord("larder.test", logging.WARNING, __file__, 1, msg, None, None)
    return dict(json.loads(JsonFormatter().format(record)))


def test_log_lines_carry_message_id_actor_and_queue_while_a_message_runs() -> None:
    # Given the log-context middleware has seen a message start
    middleware = LogContext()
    middleware.before_process_message(None, _Message())  # type: ignore[arg-type]
    # When something logs
    entry = _format("writing rows")
    # Then the line is JSON with the message's identity
    assert entry["msg"] == "writing rows" and entry["level"] == "WARNING"
    assert (entry["message_id"], entry["actor"], entry["queue"]) == ("m-1", "ingest", "events")
    # And once the message is done, the context is gone
    middleware.after_process_message(None, _Message())  # type: ignore[arg-type]
    assert "message_id" not in _format("idle")
    assert message_context.get() is None
