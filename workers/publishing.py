"""Publishing events: validate everything first, then send batches routed by event type."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import dramatiq
from dramatiq.message import Message
from pydantic import Field, TypeAdapter, ValidationError

from schemas import MAX_BATCH, SCHEMA_VERSION, Event, InvalidMessage
from schemas.base import describe
from schemas.order_checks import LifecycleEvent
from workers import queues
from workers.routing import ORDER_CHECKS, route

MAX_REPORTED = 50

# Every event type a file may hold: intake events and order lifecycle events.
_ANY_EVENT = TypeAdapter[Any](Annotated[Event | LifecycleEvent, Field(discriminator="type")])


def parse_any(data: Any) -> Any:
    """Validate one event of any published type; raises InvalidMessage with the reason."""
    try:
        return _ANY_EVENT.validate_python(data)
    except ValidationError as error:
        raise InvalidMessage(describe(error)) from None


class BadFile(Exception):
    def __init__(self, problems: list[tuple[int, str]], total: int) -> None:
        self.problems = problems
        lines = [f"line {n}: {reason}" for n, reason in problems]
        if total > len(problems):
            lines.append(f"... and {total - len(problems)} more")
        super().__init__("\n".join(lines))


@dataclass
class PublishReport:
    events: int = 0
    messages: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every non-blank line must be a valid event; otherwise BadFile lists them all."""
    with path.open(encoding="utf-8") as handle:
        return validate_lines(handle)


def validate_lines(lines: Iterable[str]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    problems: list[tuple[int, str]] = []
    total = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            parse_any(data)
            events.append(data)
        except (json.JSONDecodeError, InvalidMessage) as error:
            total += 1
            if len(problems) < MAX_REPORTED:
                problems.append((number, _reason(error)))
    if total:
        raise BadFile(problems, total)
    return events


def _reason(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"not JSON: {error.msg} at column {error.colno}"
    return str(error)


def batches(events: Iterable[dict[str, Any]], size: int = MAX_BATCH) -> Iterator[Message[Any]]:
    """Events with the same route become batch messages of at most `size`, in file order per
    route (interleaved types of different routes still fill whole batches).

    Lifecycle events are also split by order into up to ORDER_PARTITIONS streams, one per
    `size` events (all of them when the count is unknown): a batch then holds several events
    of fewer orders (each order's state is read and written once per batch), and batches of
    different streams never wait for each other's order locks. A few events stay one message
    (a message costs a transaction and a commit)."""
    streams = ORDER_PARTITIONS
    if isinstance(events, Sequence):
        lifecycle = sum(route(e["type"]) == ORDER_CHECKS for e in events)
        streams = max(1, min(ORDER_PARTITIONS, lifecycle // size))
    pending: dict[tuple[tuple[str, str], int], list[dict[str, Any]]] = {}
    for event in events:
        target = route(event["type"])
        key = (target, _partition(event, streams) if target == ORDER_CHECKS else 0)
        current = pending.setdefault(key, [])
        current.append(event)
        if len(current) >= size:
            yield _message(target, pending.pop(key))
    for (target, _), current in pending.items():
        yield _message(target, current)


ORDER_PARTITIONS = 16


def _partition(event: dict[str, Any], streams: int) -> int:
    return zlib.crc32(str(event["order_id"]).encode()) % streams


def _message(target: tuple[str, str] | None, events: list[dict[str, Any]]) -> Message[Any]:
    assert target is not None
    actor_name, workload = target
    body: dict[str, Any] = (
        events[0]
        if len(events) == 1
        else {
            "type": "batch",
            "schema_version": SCHEMA_VERSION,
            "events": events,
        }
    )
    return Message(
        queue_name=queues.name(workload),
        actor_name=actor_name,
        args=(body,),
        kwargs={},
        options={},
    )


def publish(
    broker: dramatiq.Broker,
    events: Iterable[dict[str, Any]],
    size: int = MAX_BATCH,
    give_up_s: float = 120.0,
) -> PublishReport:
    """Send every event, each message confirmed before the next; across a RabbitMQ restart it
    resumes from the first unconfirmed message, and after `give_up_s` without RabbitMQ it
    raises PublishInterrupted, saying what was confirmed (workers/confirmed.py)."""
    from workers.confirmed import FIRST_CONTACT_S, RETRYABLE, PublishInterrupted, enqueue_confirmed

    report = PublishReport()
    for message in batches(events, size):
        # until RabbitMQ has answered once, a wrong address should not keep anyone waiting
        patience = give_up_s if report.messages else min(give_up_s, FIRST_CONTACT_S)
        try:
            enqueue_confirmed(broker, message, patience)
        except RETRYABLE as error:
            raise PublishInterrupted(report, error, patience) from error
        body = message.args[0]
        sent = body["events"] if body["type"] == "batch" else [body]
        report.messages += 1
        report.events += len(sent)
        for event in sent:
            report.by_type[event["type"]] = report.by_type.get(event["type"], 0) + 1
    return report
