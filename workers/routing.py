"""Where each event type goes: (actor name, workload). One table for publishers and docs."""

from __future__ import annotations

from schemas.intake import type_of
from schemas.order_checks import LIFECYCLE_TYPES
from workers import queues

INGEST = ("ingest", queues.EVENTS)
ORDER_CHECKS = ("check_order_events", queues.ORDER_CHECKS)  # actors/orders.py

ROUTES: dict[str, tuple[str, str]] = {
    "city.upserted": INGEST,
    "brand.upserted": INGEST,
    "category.upserted": INGEST,
    "venue.upserted": INGEST,
    "item.upserted": INGEST,
    "banner.upserted": INGEST,
    "user.upserted": INGEST,
    "order.completed": INGEST,
    "activity": INGEST,
    **{type_of(model): ORDER_CHECKS for model in LIFECYCLE_TYPES},
}


def route(event_type: str) -> tuple[str, str]:
    return ROUTES[event_type]
