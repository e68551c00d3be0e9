"""How `larder intake publish` batches a file: by route, and lifecycle events by order stream."""

from __future__ import annotations

import zlib

import pytest

from tests.support.factories import venue
from tests.support.order_events import raw
from workers.publishing import ORDER_PARTITIONS, BadFile, batches, validate_lines


def test_lifecycle_events_go_to_the_checks_split_by_order() -> None:
    # Given catalog events interleaved with 20,000 lifecycle events of 400 orders
    events = []
    for n in range(20_000):
        events.append(raw("courier.location", n, order_id=f"O{n % 400}", lat=60.0, lon=24.0))
        if n % 100 == 0:
            events.append(venue(f"v{n}", venue_id=n + 1))
    # When they are batched
    messages = list(batches(events))
    # Then catalog events go to ingest in one batch, lifecycle events to the checks
    actors = [m.actor_name for m in messages]
    assert actors.count("ingest") == 1 and messages[0].queue_name.endswith("order_checks")
    lifecycle = [m.args[0] for m in messages if m.actor_name == "check_order_events"]
    # And each message holds one order stream, each order's events in file order
    seen: dict[str, list[int]] = {}
    for body in lifecycle:
        inside = body["events"] if body["type"] == "batch" else [body]
        assert len(inside) <= 1000
        assert len({zlib.crc32(e["order_id"].encode()) % ORDER_PARTITIONS for e in inside}) == 1
        for event in inside:
            seen.setdefault(event["order_id"], []).append(event["sequence"])
    assert all(seq == sorted(seq) for seq in seen.values())
    assert sum(len(seq) for seq in seen.values()) == 20_000


def test_a_few_lifecycle_events_stay_one_message() -> None:
    # Given 30 events of 10 orders (a message costs a transaction and a commit)
    events = [
        raw("courier.location", n, order_id=f"O{n % 10}", lat=60.0, lon=24.0) for n in range(30)
    ]
    # When they are batched, then they go as one message
    [message] = batches(events)
    assert len(message.args[0]["events"]) == 30


def test_bad_lifecycle_lines_are_reported_with_every_known_type() -> None:
    # Given an incomplete lifecycle event and an unknown type
    lines = ['{"type": "order.created", "schema_version": 1}', '{"type": "nope"}']
    # When the file is validated
    with pytest.raises(BadFile) as raised:
        validate_lines(lines)
    # Then the first names the lifecycle event's missing fields, the second lists both families
    text = str(raised.value)
    assert "line 1: order.created." in text
    assert "'venue.upserted'" in text and "'courier.location'" in text
