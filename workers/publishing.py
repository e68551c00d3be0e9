"""Publishing events: validate everything first, then send batches routed by event type."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.message import Message

from schemas import MAX_BATCH, SCHEMA_VERSION, InvalidMessage, parse_event
from workers import queues
from workers.routing import route

MAX_REPORTED = 50


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
            parse_event(data)
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
    """Consecutive events with the same route become one batch message of at most `size`."""
    current: list[dict[str, Any]] = []
    current_route: tuple[str, str] | None = None
    for event in events:
        target = route(event["type"])
        if current and (target != current_route or len(current) >= size):
            yield _message(current_route, current)
            current = []
        current_route = target
        current.append(event)
    if current:
        yield _message(current_route, current)


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
    broker: dramatiq.Broker, events: Iterable[dict[str, Any]], size: int = MAX_BATCH
) -> PublishReport:
    report = PublishReport()
    for message in batches(events, size):
        broker.enqueue(message)
        body = message.args[0]
        sent = body["events"] if body["type"] == "batch" else [body]
        report.messages += 1
        report.events += len(sent)
        for event in sent:
            report.by_type[event["type"]] = report.by_type.get(event["type"], 0) + 1
    return report
