"""Strict validation of order lifecycle events and their committed JSON Schemas (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.base import InvalidMessage
from schemas.export import JSON_DIR, stale
from schemas.intake import type_of
from schemas.order_checks import (
    LIFECYCLE_TYPES,
    CourierUnassigned,
    ItemSubstituted,
    Problem,
    parse_lifecycle,
)
from tests.support.order_events import raw

KINDS = [type_of(model) for model in LIFECYCLE_TYPES]

# The contract: every event's fields, then each type's own (required) fields.
COMMON = {"event_id", "order_id", "type", "occurred_at", "sequence", "schema_version"}
OWN = {
    "order.created": {
        "user_id",
        "venue_id",
        "city_id",
        "items",
        "total",
        "payment_method",
        "promised_delivery_at",
    },
    "payment.authorized": set(),
    "payment.failed": set(),
    "venue.accepted": {"estimated_ready_at"},
    "venue.rejected": {"reason"},
    "order.ready": set(),
    "courier.assigned": {"courier_id"},
    "courier.unassigned": set(),
    "courier.arrived_at_venue": set(),
    "order.picked_up": set(),
    "courier.location": {"lat", "lon"},
    "order.delivered": set(),
    "order.cancelled": {"by", "reason"},
    "item.unavailable": {"item_id"},
    "item.substituted": {"item_id"},
}


def test_the_fifteen_contract_types_are_modelled() -> None:
    assert sorted(KINDS) == sorted(OWN)


@pytest.mark.parametrize("kind", KINDS)
def test_every_type_parses_into_its_model(kind: str) -> None:
    # Given a valid event of each type, stamped with a +02:00 offset
    body = raw(kind, 3, occurred_at="2026-01-05T14:00:00+02:00")
    # When parsed
    event = parse_lifecycle(body)
    # Then it is typed, and its time is normalised to UTC
    assert event.type == kind
    assert (event.order_id, event.sequence) == ("ORD-1", 3)
    assert event.occurred_at.tzinfo == UTC
    assert event.occurred_at.hour == 12


def test_optional_fields_default_and_can_be_given() -> None:
    bare = parse_lifecycle(raw("courier.unassigned", 4))
    assert isinstance(bare, CourierUnassigned)
    assert (bare.courier_id, bare.reason) == (None, None)
    swapped = parse_lifecycle(raw("item.substituted", 5, substitute_item_id=200))
    assert isinstance(swapped, ItemSubstituted)
    assert swapped.substitute_item_id == 200


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (raw("order.ready", 1, order_id="x" * 65), "order_id: String should have at most 64"),
        (raw("order.ready", 1, order_id=""), "order_id: String should have at least 1"),
        (raw("order.ready", 1, order_id="A\x00B"), "order_id: String should match pattern"),
        (raw("order.ready", -1), "sequence: Input should be greater than or equal to 0"),
        ({**raw("order.ready", 1), "sequence": "1"}, "sequence: Input should be a valid integer"),
        (raw("order.ready", 1, occurred_at="2026-01-05T12:00:00"), "occurred_at"),
        (raw("order.ready", 1, colour="red"), "colour: Extra inputs are not permitted"),
        (raw("order.ready", 1, schema_version=2), "schema_version"),
        ({k: v for k, v in raw("order.ready", 1).items() if k != "event_id"}, "event_id"),
        (raw("order.created", 1, items=[]), "items: List should have at least 1"),
        (raw("order.created", 1, items=[{"item_id": 1, "quantity": 0}]), "quantity"),
        (raw("order.created", 1, user_id="1"), "user_id: Input should be a valid integer"),
        (raw("order.created", 1, payment_method="Credit Card"), "payment_method"),
        (raw("order.created", 1, promised_delivery_at="soon"), "promised_delivery_at"),
        (raw("venue.accepted", 1, estimated_ready_at=None), "estimated_ready_at"),
        (raw("order.cancelled", 1, by="courier"), "by: Input should be 'user'"),
        (raw("courier.location", 1, lat=91.0), "lat: Input should be less than or equal to 90"),
        (raw("courier.assigned", 1, courier_id=0), "courier_id"),
        ({**raw("order.ready", 1), "type": "order.lost"}, "does not match any of the expected"),
        ("not an object", "message"),
    ],
)
def test_bad_events_are_rejected_with_a_clear_reason(body: Any, expected: str) -> None:
    # Given a malformed event / When parsed / Then the reason names the problem
    with pytest.raises(InvalidMessage) as error:
        parse_lifecycle(body)
    assert expected in error.value.reason


@pytest.mark.parametrize("kind", KINDS)
def test_one_committed_json_schema_per_type_carries_the_contract(kind: str) -> None:
    # Given the committed schema file of a type
    schema = json.loads((JSON_DIR / f"{kind}.schema.json").read_text(encoding="utf-8"))
    # Then it names the contract fields, the required ones as required, and nothing else
    assert COMMON | OWN[kind] <= set(schema["required"])
    assert schema["additionalProperties"] is False
    assert schema["properties"]["type"]["const"] == kind


def test_lifecycle_json_schemas_are_up_to_date() -> None:
    # When the committed files are compared with the models
    # Then none of the lifecycle ones is stale (run `larder schemas export` after a change)
    assert [name for name in stale() if name in OWN or name == "order-lifecycle-event"] == []


def _problem(since: datetime, opened_at: datetime) -> Problem:
    return Problem(
        problem_id=1,
        rule="venue_not_accepting",
        status="open",
        severity="warning",
        muted=False,
        order_id="O-1",
        venue_id=5,
        city_id=1,
        since=since,
        opened_at=opened_at,
        last_seen_at=opened_at,
        ended_at=None,
        acknowledged_at=None,
        acknowledged_by=None,
        resolved_at=None,
        resolution=None,
        resolved_by=None,
        details={},
        version=1,
        assigned_to=None,
        silenced_until=None,
        silenced_by=None,
    )


def test_detection_lag_is_how_long_the_condition_lasted_before_the_record_opened() -> None:
    at = datetime(2026, 1, 5, 12, tzinfo=UTC)
    assert _problem(at, at + timedelta(seconds=42.5)).detection_lag_s == 42.5


def test_a_detection_lag_is_never_negative() -> None:
    # Given a problem whose `since` (a producer's clock) is ahead of the checks' clock
    at = datetime(2026, 1, 5, 12, tzinfo=UTC)
    problem = _problem(since=at + timedelta(seconds=510.5), opened_at=at)
    # When its lag is read, as the inbox API and `larder inbox list` show it
    # Then it is 0, not -510.5
    assert problem.detection_lag_s == 0.0
    assert problem.model_dump(mode="json")["detection_lag_s"] == 0.0
    from programs.cli.inbox import problem_line

    assert "opened after 0.0s" in problem_line(problem)
