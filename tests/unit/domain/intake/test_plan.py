"""Planning intake writes (pure)."""

from __future__ import annotations

from typing import Any

from domain.intake import number_lines, plan
from schemas import parse_intake
from tests.support.factories import batch, order, venue


def test_plan_groups_by_type_and_keeps_first_copy_of_an_event_id() -> None:
    # Given a batch with a repeated event id
    events = parse_intake(batch([venue("a", name="first"), order(), venue("a", name="second")]))
    # When planned
    groups = plan(events)
    # Then each type has its rows and the duplicate is dropped
    assert [row["name"] for row in groups["venue.upserted"]] == ["first"]
    assert len(groups["order.completed"]) == 1
    assert "type" not in groups["venue.upserted"][0]


def test_lines_without_numbers_take_the_next_free_ones() -> None:
    lines: list[dict[str, Any]] = [
        {"item_id": 1, "line_no": None},
        {"item_id": 2, "line_no": 1},
        {"item_id": 3, "line_no": None},
    ]
    assert [line["line_no"] for line in number_lines(lines)] == [2, 1, 3]


def test_order_rows_are_numbered_and_json_ready() -> None:
    (event,) = parse_intake(order())
    (row,) = plan([event])["order.completed"]
    assert row["placed_at"] == "2026-01-05T12:00:00Z"
    assert [line["line_no"] for line in row["lines"]] == [1, 2]
