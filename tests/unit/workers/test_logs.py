"""Structured logs: one JSON object per line, carrying the current message's context."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from dramatiq.message import Message

from workers.logs import JsonFormatter, configure, message_context
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


@pytest.fixture
def text_logs() -> Iterator[Callable[[], str]]:
    """Logs configured as a worker configures them (text lines), written to a buffer instead
    of stderr; what they wrote."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure("INFO", "text")
    buffer = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    yield buffer.getvalue
    root.handlers[:] = handlers
    root.setLevel(level)


def _run_one(broker: StubBroker, actor_name: str) -> None:
    """One message through a real dramatiq worker on an in-memory broker."""
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        broker.enqueue(Message("q", actor_name, (), {}, {}))
        broker.join("q", fail_fast=False, timeout=10_000)
        worker.join()
    finally:
        worker.stop()


def test_a_message_for_an_unknown_actor_logs_a_warning_without_a_traceback(
    text_logs: Callable[[], str],
) -> None:
    # Given a worker whose broker knows no actor `no_such_actor`
    broker = StubBroker()
    broker.declare_queue("q")
    # When a message for it arrives (a producer's mistake: it is dead-lettered, not a crash)
    _run_one(broker, "no_such_actor")
    # Then dramatiq's line about it is a WARNING, without a traceback
    err = text_logs()
    lines = [line for line in err.splitlines() if "no_such_actor" in line]
    assert lines and all(" WARNING " in line for line in lines), err
    assert "Traceback" not in err and " ERROR " not in err


def test_a_real_failure_still_logs_an_error_with_its_traceback(
    text_logs: Callable[[], str],
) -> None:
    # Given an actor with a bug
    broker = StubBroker()

    def broken() -> None:
        raise RuntimeError("a bug")

    dramatiq.actor(broker=broker, queue_name="q", max_retries=0)(broken)
    # When its message runs
    _run_one(broker, "broken")
    # Then the failure is an ERROR with its traceback, as before
    err = text_logs()
    assert " ERROR " in err and "Traceback" in err and "RuntimeError: a bug" in err


def _run_with(broker: StubBroker, actor_name: str, *args: object) -> None:
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        broker.enqueue(Message("q", actor_name, args, {}, {}, message_id="m-personal"))
        broker.join("q", fail_fast=False, timeout=10_000)
        worker.join()
    finally:
        worker.stop()


@pytest.mark.parametrize("failure", ["invalid", "bug"])
def test_message_bodies_never_reach_the_logs(text_logs: Callable[[], str], failure: str) -> None:
    from schemas import InvalidMessage

    # Given an actor that refuses (an invalid message, logged by dramatiq at INFO) or fails (a
    # bug, at ERROR), and a message with a home's coordinates and an address in it
    broker = StubBroker()

    def refuses(event: dict[str, object]) -> None:
        raise InvalidMessage("home_lat: out of range") if failure == "invalid" else KeyError("x")

    dramatiq.actor(broker=broker, queue_name="q", max_retries=0, throws=(InvalidMessage,))(refuses)
    # When it runs
    _run_with(broker, "refuses", {"home_lat": 60.123456, "street": "Mannerheimintie 12 B"})
    # Then the logs name the message by its actor and id, and hold none of its body
    err = text_logs()
    assert "refuses message m-personal" in err
    assert "60.123456" not in err and "Mannerheimintie" not in err


def test_json_lines_carry_the_current_trace_and_span_ids() -> None:
    # Given a span from a propagated trace context (as an actor continues its publisher's)
    import json
    import logging

    from opentelemetry import context, propagate, trace

    from workers.logs import JsonFormatter

    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    token = context.attach(propagate.extract({"traceparent": parent}))
    try:
        record = logging.LogRecord("larder.test", logging.INFO, __file__, 1, "inside", (), None)
        # When a line is formatted inside it
        line = json.loads(JsonFormatter().format(record))
    finally:
        context.detach(token)
    outside = json.loads(JsonFormatter().format(record))
    # Then it carries the trace id; outside any trace it carries none
    assert line["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert line["span_id"] == "b7ad6b7169203331"
    assert "trace_id" not in outside
    assert trace.get_current_span().get_span_context().is_valid is False
