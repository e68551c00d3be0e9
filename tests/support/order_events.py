"""Order lifecycle event builders for tests: valid by default, times in minutes after T0."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.order_checks import LifecycleEvent, parse_lifecycle

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
ORDER = "ORD-1"

_REQUIRED: dict[str, dict[str, Any]] = {
    "order.created": {
        "user_id": 1,
        "venue_id": 10,
        "city_id": 1,
        "items": [{"item_id": 100, "quantity": 1}, {"item_id": 101, "quantity": 2}],
        "total": 2590,
        "payment_method": "card",
        "promised_delivery_at": "2026-01-05T12:45:00Z",
    },
    "venue.accepted": {"estimated_ready_at": "2026-01-05T12:20:00Z"},
    "venue.rejected": {"reason": "closing early"},
    "courier.assigned": {"courier_id": 7},
    "courier.location": {"lat": 60.17, "lon": 24.94},
    "order.cancelled": {"by": "user", "reason": "changed my mind"},
    "item.unavailable": {"item_id": 100},
    "item.substituted": {"item_id": 100},
}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def iso(minutes: float) -> str:
    return at(minutes).isoformat()


def raw(kind: str, sequence: int, minute: float = 0, **fields: Any) -> dict[str, Any]:
    """A JSON-ready event of type `kind`; event_id defaults to `<order>:<sequence>`."""
    order_id = fields.pop("order_id", ORDER)
    return {
        "type": kind,
        "schema_version": 1,
        "event_id": f"{order_id}:{sequence}",
        "order_id": order_id,
        "occurred_at": iso(minute),
        "sequence": sequence,
        **_REQUIRED.get(kind, {}),
        **fields,
    }


def event(kind: str, sequence: int, minute: float = 0, **fields: Any) -> LifecycleEvent:
    return parse_lifecycle(raw(kind, sequence, minute, **fields))


def created(sequence: int = 1, minute: float = 0, **fields: Any) -> LifecycleEvent:
    return event("order.created", sequence, minute, **fields)


def accepted(sequence: int, minute: float, ready_minute: float = 20, **f: Any) -> LifecycleEvent:
    return event("venue.accepted", sequence, minute, estimated_ready_at=iso(ready_minute), **f)


def location(sequence: int, minute: float, lat: float, lon: float, **f: Any) -> LifecycleEvent:
    return event("courier.location", sequence, minute, lat=lat, lon=lon, **f)
