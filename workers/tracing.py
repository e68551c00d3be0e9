"""OpenTelemetry tracing: one trace from a publish through the actor to its writes and any
follow-up message.

A W3C trace context travels in the message, `options["trace"] = {"traceparent": ...}` (the
AMQP contract lets non-Python producers set it too). Spans: `<queue> publish` (producer: every
enqueue, `larder intake publish` and follow-ups alike), `<actor> process` (consumer: the
actor's run, child of the publish), `transaction` (each unit of work, store/db.py), and the
follow-up's publish inside it. JSON log lines carry the current `trace_id` and `span_id`
(workers/logs.py).

Off by default: `configure()` installs an SDK tracer provider only when the standard OTEL
environment asks for an exporter (`OTEL_TRACES_EXPORTER=otlp|console`, or an
`OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`; `OTEL_SDK_DISABLED=true` wins). Without it every
span is the API's no-op and costs next to nothing; the context still propagates.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import dramatiq
from opentelemetry import context, propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

CARRIER = "trace"  # the message option holding the W3C context
tracer = trace.get_tracer("larder")


def wanted(environ: dict[str, str] | os._Environ[str] = os.environ) -> str | None:
    """Which exporter the OTEL environment asks for (otlp, console), or None: tracing off."""
    if environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter and exporter != "none":
        return exporter.split(",")[0]
    endpoints = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if not exporter and any(environ.get(name) for name in endpoints):
        return "otlp"
    return None


def configure(service: str, exporter: Any = None) -> bool:
    """Install the SDK tracer provider when the environment (or a test's `exporter`) asks for
    one; returns whether tracing is on. The service name: OTEL_SERVICE_NAME, else `service`."""
    kind = "given" if exporter is not None else wanted()
    if kind is None:
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or service
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        provider.add_span_processor(BatchSpanProcessor(_exporter(kind)))
    trace.set_tracer_provider(provider)
    return True


def _exporter(kind: str) -> Any:
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if kind == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()  # endpoint, headers, timeout: OTEL_EXPORTER_OTLP_*
    raise ValueError(f"OTEL_TRACES_EXPORTER={kind!r}: larder exports otlp or console")


class Tracing(dramatiq.Middleware):
    """Starts the publish and process spans and carries the context inside the message."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _open(self) -> dict[tuple[str, str], Any]:
        found = getattr(self._local, "open", None)
        if found is None:
            found = self._local.open = {}
        return found

    def before_enqueue(self, broker: dramatiq.Broker, message: Any, delay: Any) -> None:
        span = tracer.start_span(
            f"{message.queue_name} publish",
            kind=SpanKind.PRODUCER,
            attributes=_attributes(message),
        )
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span))
        if carrier:
            message.options[CARRIER] = carrier
        self._open()[("enqueue", message.message_id)] = (span, None)

    def after_enqueue(self, broker: dramatiq.Broker, message: Any, delay: Any) -> None:
        self._close(("enqueue", message.message_id), None)

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        parent = propagate.extract(message.options.get(CARRIER) or {})
        span = tracer.start_span(
            f"{message.actor_name} process",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=_attributes(message),
        )
        token = context.attach(trace.set_span_in_context(span, parent))
        self._open()[("process", message.message_id)] = (span, token)

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        self._close(("process", message.message_id), exception)

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self._close(("process", message.message_id), None)

    def _close(self, key: tuple[str, str], error: BaseException | None) -> None:
        found = self._open().pop(key, None)
        if found is None:
            return
        span, token = found
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()
        if token is not None:
            context.detach(token)


def _attributes(message: Any) -> dict[str, Any]:
    return {
        "messaging.system": "rabbitmq",
        "messaging.destination.name": message.queue_name,
        "messaging.message.id": message.message_id,
        "larder.actor": message.actor_name,
    }


def current_ids() -> dict[str, str]:
    """The current trace and span ids for a log line (empty outside a recorded or propagated
    trace)."""
    found = trace.get_current_span().get_span_context()
    if not found.is_valid:
        return {}
    return {"trace_id": f"{found.trace_id:032x}", "span_id": f"{found.span_id:016x}"}
