"""Strict validation of the intake contract (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from schemas import MAX_BATCH, InvalidMessage, parse_intake
from schemas.export import stale
from tests.support.factories import activity, batch, order, venue


def test_valid_event_and_batch_parse() -> None:
    # Given one event and a batch of three
    # When parsed
    single = parse_intake(venue())
    many = parse_intake(batch([venue(), order(), activity()]))
    # Then they become typed events
    assert [e.type for e in single] == ["venue.upserted"]
    assert [e.type for e in many] == ["venue.upserted", "order.completed", "activity"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (venue(colour="red"), "colour: Extra inputs are not permitted"),
        ({**venue(), "venue_id": "1"}, "venue_id: Input should be a valid integer"),
        (venue(venue_id=0), "venue_id: Input should be greater than or equal to 1"),
        (venue(rating=5.5), "rating"),
        (venue(delivery_radius_m=10), "delivery_radius_m"),
        (venue(active="yes"), "active: Input should be a valid boolean"),
        (venue(schema_version=2), "schema_version"),
        ({k: v for k, v in venue().items() if k != "schema_version"}, "schema_version"),
        (order(placed_at="2026-01-05T12:00:00"), "placed_at"),
        (order(lines=[]), "lines"),
        (order(order_id="x" * 65), "order_id"),
        (order(order_id="A\x00B"), "order_id: String should match pattern"),
        (order(lines=[{"item_id": 1, "line_no": 1}, {"item_id": 2, "line_no": 1}]), "line_no"),
        (activity(venue_id=None), "at least one target"),
        (activity(kind="purchase"), "kind"),
        ({"type": "nope"}, "does not match any of the expected tags"),
        ("not an object", "message"),
        (batch([]), "events"),
        (batch([venue(f"v{i}") for i in range(MAX_BATCH + 1)]), "at most 1000"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_reason(body: Any, expected: str) -> None:
    # Given a malformed message / When parsed / Then the reason names the problem
    with pytest.raises(InvalidMessage) as error:
        parse_intake(body)
    assert expected in error.value.reason


def test_banner_flight_must_end_after_it_starts() -> None:
    banner = {
        "type": "banner.upserted",
        "schema_version": 1,
        "event_id": "b",
        "version": 1,
        "banner_id": 1,
        "name": "b",
        "starts_at": "2026-02-01T00:00:00Z",
        "ends_at": "2026-01-01T00:00:00Z",
    }
    with pytest.raises(InvalidMessage, match="ends_at must be after starts_at"):
        parse_intake(banner)


def test_committed_json_schemas_are_up_to_date() -> None:
    # Given the committed files under schemas/json / When compared with the models
    # Then none is stale (run `larder schemas export` after changing a model)
    assert stale() == []


def test_a_refresh_job_carries_its_oldest_change_mark_as_iso_8601() -> None:
    # Given a job as the change sweep sends it (JSON: the mark as an ISO-8601 string)
    from schemas.base import parse
    from schemas.recs import RefreshLists

    job = {"schema_version": 1, "user_ids": [1, 2], "changed_at": "2026-01-05T12:00:00+00:00"}
    # When it is validated, Then the mark is an aware datetime
    assert parse(RefreshLists, job).changed_at is not None
    # And a mark without an offset is refused
    with pytest.raises(InvalidMessage):
        parse(RefreshLists, {**job, "changed_at": "2026-01-05T12:00:00"})
