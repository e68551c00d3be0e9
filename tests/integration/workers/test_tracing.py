"""One trace from a publish through the actor to its writes and its follow-up message, with
the real RabbitMQ and Postgres, recorded by an in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.conftest import scalar, wait_for
from tests.integration.store.recs.test_registry import load_history
from tests.support.factories import venue
from workers import queues, tracing
from workers.publishing import publish

_EXPORTER = InMemorySpanExporter()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on, into memory (a tracer provider is set once per process)."""
    if not getattr(_EXPORTER, "installed", False):
        assert tracing.configure("larder-test", exporter=_EXPORTER)
        _EXPORTER.installed = True  # type: ignore[attr-defined]
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def named(exporter: InMemorySpanExporter, name: str) -> list[Any]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


def test_a_published_event_is_one_trace_to_its_write(
    spans: InMemorySpanExporter, broker: Any, worker: Any, db: Any
) -> None:
    # When one event is published as `larder intake publish` does
    publish(broker, [venue("trace-v", venue_id=77)])
    wait_for(lambda: scalar(db, "SELECT count(*) FROM venues WHERE venue_id = 77"))
    [process] = wait_for(lambda: named(spans, "ingest process"))
    # Then the publish span is the trace's root, a producer span
    [sent] = named(spans, f"{queues.name(queues.EVENTS)} publish")
    assert sent.kind == SpanKind.PRODUCER and sent.parent is None
    # And the actor's span continues it, as a consumer
    assert process.kind == SpanKind.CONSUMER
    assert process.context.trace_id == sent.context.trace_id
    assert process.parent.span_id == sent.context.span_id
    # And the write is a transaction span inside the actor's
    writes = wait_for(
        lambda: [
            s
            for s in named(spans, "transaction")
            if s.parent and s.parent.span_id == process.context.span_id
        ]
    )
    assert all(w.context.trace_id == sent.context.trace_id for w in writes)


def test_a_follow_up_message_continues_the_trace(
    spans: InMemorySpanExporter, broker: Any, db: Any, tmp_path: Path
) -> None:
    # Given order history, and a worker on every capability's queues
    import actors

    load_history(db, tmp_path)
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=50)
    worker.start()
    try:
        # When a training is asked for (it trains, then enqueues the refresh of users without
        # lists: a follow-up message)
        actors.recs.training.train_models.send()
        wait_for(lambda: scalar(db, "SELECT count(*) FROM recommendations"), timeout=60)
        [trained] = wait_for(lambda: named(spans, "train_models process"), timeout=30)
        refreshes = wait_for(lambda: named(spans, "refresh_lists process"), timeout=30)
    finally:
        worker.stop()
    # Then the follow-up's publish is inside the training's trace, and so is its processing
    trace_id = trained.context.trace_id
    follow_ups = [
        s
        for s in named(spans, f"{queues.name(queues.RECS)} publish")
        if s.context.trace_id == trace_id
    ]
    assert follow_ups
    assert {r.context.trace_id for r in refreshes} == {trace_id}
    assert {r.parent.span_id for r in refreshes} <= {f.context.span_id for f in follow_ups}
    # And the training's own writes are transaction spans of the same trace
    assert any(t.context.trace_id == trace_id for t in named(spans, "transaction"))
