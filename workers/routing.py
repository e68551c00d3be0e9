"""Where each event type goes: (actor name, workload). One table for publishers and docs."""

from __future__ import annotations

from workers import queues

INGEST = ("ingest", queues.EVENTS)

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
}


def route(event_type: str) -> tuple[str, str]:
    return ROUTES[event_type]
