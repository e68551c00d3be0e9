"""Event builders for tests: valid by default, any field overridable."""

from __future__ import annotations

from typing import Any


def venue(
    event_id: str = "v-1", venue_id: int = 1, version: int = 1, **fields: Any
) -> dict[str, Any]:
    return {
        "type": "venue.upserted",
        "schema_version": 1,
        "event_id": event_id,
        "version": version,
        "venue_id": venue_id,
        "city_id": 1,
        "name": f"Venue {venue_id} v{version}",
        "lat": 60.17,
        "lon": 24.94,
        "delivery_radius_m": 3000,
        "cuisines": ["pizza"],
        "category_ids": [1],
        "opening_hours": [{"weekday": d, "opens": "10:00", "closes": "22:00"} for d in range(7)],
        **fields,
    }


def order(
    event_id: str = "o-1", order_id: str = "ORD-1", user_id: int = 1, **fields: Any
) -> dict[str, Any]:
    return {
        "type": "order.completed",
        "schema_version": 1,
        "event_id": event_id,
        "order_id": order_id,
        "user_id": user_id,
        "venue_id": 1,
        "placed_at": "2026-01-05T12:00:00Z",
        "lines": [{"item_id": 10, "quantity": 1}, {"item_id": 11, "quantity": 2}],
        **fields,
    }


def activity(event_id: str = "a-1", user_id: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "type": "activity",
        "schema_version": 1,
        "event_id": event_id,
        "kind": "click",
        "surface": "discovery",
        "user_id": user_id,
        "venue_id": 1,
        "occurred_at": "2026-01-05T11:59:00Z",
        **fields,
    }


def batch(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "batch", "schema_version": 1, "events": events}
