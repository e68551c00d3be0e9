"""Building the precomputed lists of the `items` surface (pure).

One list per user and relevant venue (context = venue id): the venues the user ordered from,
most recent first, up to `venues_per_user`. Cold start and unknown users read the venue's
fallback list (its popular items), stored once for every city (city_id 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from domain.recs.items import Basket, ItemsModel, chronological, popular_columns, recommend_many

SURFACE_ITEMS = "items"
EVERY_CITY = 0


def relevant_venues(history: Sequence[Basket], limit: int) -> list[int]:
    """The user's venues, most recently ordered from first."""
    venues: list[int] = []
    for basket in reversed(chronological(history)):
        if basket.venue_id not in venues:
            venues.append(basket.venue_id)
    return venues[:limit]


def items_lists(
    model: ItemsModel,
    version: str,
    histories: Mapping[int, Sequence[Basket]],
    k: int = 50,
    venues_per_user: int = 10,
) -> list[dict[str, Any]]:
    """Rows for `recommendations`: users are scored per venue in one vectorised call each."""
    by_venue: dict[int, dict[int, Sequence[Basket]]] = {}
    for user, history in histories.items():
        for venue in relevant_venues(history, venues_per_user):
            by_venue.setdefault(venue, {})[user] = history
    rows = []
    for venue, group in sorted(by_venue.items()):
        for user, ranked in recommend_many(model, group, k, venue).items():
            rows.append(_row(user, venue, ranked, version, _inputs_at(histories[user])))
    return rows


def items_fallbacks(model: ItemsModel, version: str, k: int = 50) -> list[dict[str, Any]]:
    """Rows for `fallback_recommendations`: each venue's most popular items."""
    rows = []
    for venue in model.venue_ids.tolist():
        columns, counts = popular_columns(model, venue)
        rows.append(
            {
                "city_id": EVERY_CITY,
                "surface": SURFACE_ITEMS,
                "context": venue,
                "ids": model.item_ids[columns[:k]].tolist(),
                "scores": counts[:k].tolist(),
                "model_version": version,
            }
        )
    return rows


def _row(
    user: int, venue: int, ranked: Sequence[tuple[int, float]], version: str, inputs_at: datetime
) -> dict[str, Any]:
    return {
        "user_id": user,
        "surface": SURFACE_ITEMS,
        "context": venue,
        "ids": [item for item, _ in ranked],
        "scores": [score for _, score in ranked],
        "model_version": version,
        "inputs_at": inputs_at.isoformat(),
    }


def _inputs_at(history: Sequence[Basket]) -> datetime:
    return max(basket.placed_at for basket in history)
