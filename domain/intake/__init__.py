"""Turn validated intake events into rows grouped by event type (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from schemas import Event, OrderCompleted

Plan = dict[str, list[dict[str, Any]]]


def plan(events: Iterable[Event]) -> Plan:
    """Group events by type as JSON-ready rows; a repeated event id keeps its first copy."""
    seen: set[str] = set()
    groups: Plan = {}
    for event in events:
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        groups.setdefault(event.type, []).append(to_row(event))
    return groups


def to_row(event: Event) -> dict[str, Any]:
    row = event.model_dump(mode="json", exclude={"type", "schema_version"})
    if isinstance(event, OrderCompleted):
        row["lines"] = number_lines(row["lines"])
    return row


def number_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lines without a line_no get the next free number after those given, in order."""
    taken = {line["line_no"] for line in lines if line["line_no"] is not None}
    next_no = 1
    numbered = []
    for line in lines:
        if line["line_no"] is None:
            while next_no in taken:
                next_no += 1
            taken.add(next_no)
            line = {**line, "line_no": next_no}
        numbered.append(line)
    return numbered
