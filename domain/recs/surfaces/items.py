"""`items`: per venue, the items a user is likely to order there (domain/recs/items.py)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np

from domain.recs.bundle import Bundle
from domain.recs.flat import FlatLists, ranges
from domain.recs.items import Basket, chronological, popular_columns, venue_lists
from domain.recs.surfaces.base import (
    EVERY_CITY,
    Batch,
    Context,
    FallbackInputs,
    FallbackRow,
    Surface,
)

ITEMS_K = 50
ITEMS_VENUES = 8


def relevant_venues(history: Sequence[Basket], limit: int) -> list[int]:
    """The user's venues, most recently ordered from first."""
    venues: list[int] = []
    for basket in reversed(chronological(history)):
        if basket.venue_id not in venues:
            venues.append(basket.venue_id)
    return venues[:limit]


def rank(batch: Batch) -> FlatLists:
    """At each of the user's relevant venues: the ones ordered from (most recent first), then
    the top discovery venues, ITEMS_VENUES in all."""
    venues = {u: relevant_venues(h, ITEMS_VENUES) for u, h in batch.histories.items()}
    found = batch.lists.get("discovery", FlatLists.empty())
    tops = _tops(found, ITEMS_VENUES)
    for user, top in zip(found.user_ids.tolist(), tops, strict=True):
        venues[user] = _with_discovered(venues.get(user, []), top)
    everyone = {u: batch.histories.get(u, ()) for u in venues}
    return venue_lists(batch.bundle.items, everyone, venues, ITEMS_K)


def _tops(found: FlatLists, k: int) -> list[list[int]]:
    """Each list's first 2k venues: enough, as at most k of them are venues already ordered from
    (cut by numpy first: a discovery list holds up to 100)."""
    lengths = np.minimum(np.diff(found.bounds), 2 * k)
    ids = found.ids[ranges(found.bounds[:-1], lengths)].tolist()
    return [ids[a:b] for a, b in pairwise(np.concatenate([[0], np.cumsum(lengths)]).tolist())]


def _with_discovered(ordered: list[int], discovered: list[int]) -> list[int]:
    extra = [v for v in discovered if v not in ordered]
    return (ordered + extra)[:ITEMS_VENUES]


def fallback(inputs: FallbackInputs) -> list[FallbackRow]:
    """Each venue's most popular items (for every city)."""
    return popular_items(inputs.bundle)


def popular_items(bundle: Bundle, k: int = ITEMS_K) -> list[FallbackRow]:
    model, rows = bundle.items, []
    for venue in model.venue_ids.tolist():
        columns, counts = popular_columns(model, venue)
        ids = model.item_ids[columns[:k]].tolist()
        rows.append(FallbackRow(EVERY_CITY, SURFACE.name, venue, ids, counts[:k].tolist()))
    return rows


SURFACE = Surface(
    name="items",
    description="Items in a venue: what the user is likely to order there, best first.",
    ids="item",
    context=Context("venue", "the venue id", required=True),
    length=ITEMS_K,
    storage="per_user",
    ranking=(
        "the items model (below) at each of the user's relevant venues: ordered from (most"
        f" recent first), then the top discovery venues, {ITEMS_VENUES} in all; the venue's"
        " popularity pads and serves cold start"
    ),
    rank=rank,
    fallback=fallback,
    needs=("discovery",),
)
