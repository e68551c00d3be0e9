"""A small generated world as the pure rankers see it (shared by the recs tests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from domain.recs.discovery import UserRow
from domain.recs.items import Basket
from domain.recs.lists import Activity
from domain.recs.venues import VenueCatalog, VenueRow
from synthetic.world import WorldConfig, generate


@dataclass(frozen=True)
class World:
    catalog: VenueCatalog
    users: list[UserRow]
    baskets: list[Basket]
    activity: list[Activity]
    available: dict[int, bool]
    now: datetime


@cache
def small_world(users: int = 300, venues: int = 60, days: int = 30) -> World:
    # a fixed end (history from Monday 2026-01-05 on), so these worlds never change
    end = datetime(2026, 1, 5, tzinfo=UTC) + timedelta(days=days)
    config = WorldConfig(cities=2, venues=venues, users=users, days=days, seed=11, end=end)
    venue_rows, user_rows, baskets, activity, available = [], [], [], [], {}
    for event in generate(config):
        kind = event["type"]
        if kind == "venue.upserted":
            venue_rows.append(_venue(event))
        elif kind == "user.upserted":
            user_rows.append(
                UserRow(event["user_id"], event["city_id"], event["home_lat"], event["home_lon"])
            )
        elif kind == "order.completed":
            items = tuple(sorted({line["item_id"] for line in event["lines"]}))
            placed = datetime.fromisoformat(event["placed_at"])
            baskets.append(
                Basket(event["user_id"], event["venue_id"], placed, items, event["order_id"])
            )
        elif kind == "activity" and event.get("venue_id"):
            at = datetime.fromisoformat(event["occurred_at"])
            activity.append(Activity(event["user_id"], event["venue_id"], at))
        elif kind == "item.upserted":
            available[event["item_id"]] = event["available"]
    now = max(b.placed_at for b in baskets)
    return World(VenueCatalog.from_rows(venue_rows), user_rows, baskets, activity, available, now)


def _venue(event: dict[str, Any]) -> VenueRow:
    return VenueRow(
        event["venue_id"],
        event["city_id"],
        event.get("brand_id"),
        event["lat"],
        event["lon"],
        event["delivery_radius_m"],
        event["cuisines"],
        event["category_ids"],
        event.get("rating"),
        event["active"],
    )
