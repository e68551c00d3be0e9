"""Building every precomputed list of a batch of users, and the cold-start fallbacks (pure).

Per user: `discovery` (context 0), `category` (context = category id) and `items` (context =
venue id) lists, handed over as flat arrays per surface (`ListBatch`). Items lists cover the
venues the user ordered from, most recent first, then the top discovery venues, up to
`ITEMS_VENUES`. Cart reads combine the stored complements (fallback
rows, surface `cart`, context = item id) with the user's items list at query time.

Fallbacks, read when a user's list is missing or stale: per city, the city's discovery and
category lists; for every city (city_id 0), each venue's popular items and each item's
complements.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain, groupby, pairwise
from typing import NamedTuple

import numpy as np

from domain.recs.bundle import Bundle
from domain.recs.cart import complements_of
from domain.recs.discovery import (
    ACTIVITY_WEIGHT,
    DEFAULT_PARAMS,
    DiscoveryParams,
    UserRow,
    Visits,
    categories,
    city_scores,
    discovery,
    score_city,
)
from domain.recs.flat import FlatLists
from domain.recs.items import Basket, chronological, popular_columns, venue_lists
from domain.recs.venues import VenueCatalog

SURFACES = ("discovery", "category", "items", "cart")
USER_SURFACES = SURFACES[:3]  # stored per user (a cart read combines stored lists)
EVERY_CITY = 0
ITEMS_K = 50
ITEMS_VENUES = 8
NO_INPUTS = datetime(1970, 1, 1, tzinfo=UTC)


class ListRow(NamedTuple):
    """One list, as readers and tests see it (stored packed with the user's other lists of the
    surface: store/pgcopy.py)."""

    user_id: int
    surface: str
    context: int
    ids: list[int]
    scores: list[float]
    inputs_at: datetime  # the newest input the list was computed from


class FallbackRow(NamedTuple):
    """One row of `fallback_recommendations`."""

    city_id: int
    surface: str
    context: int
    ids: list[int]
    scores: list[float]


class Activity(NamedTuple):
    """A user's venue activity at one venue: one event at `at` (weight 1), or several events
    summed, `at` the newest and each event weighing what affinity decay leaves of it at `at`
    (what the refresh reads: `queries.USER_ACTIVITY`)."""

    user_id: int
    venue_id: int
    at: datetime
    weight: float = 1.0


def relevant_venues(history: Sequence[Basket], limit: int) -> list[int]:
    """The user's venues, most recently ordered from first."""
    venues: list[int] = []
    for basket in reversed(chronological(history)):
        if basket.venue_id not in venues:
            venues.append(basket.venue_id)
    return venues[:limit]


class ListBatch(NamedTuple):
    """Lists of one surface."""

    surface: str
    lists: FlatLists


@dataclass(frozen=True)
class UserLists:
    """Every list computed for a batch of users, and each user's newest input."""

    batches: list[ListBatch]
    inputs_at: dict[int, datetime]

    def rows(self) -> list[ListRow]:
        """One `ListRow` per list (tests, small writers)."""
        return [
            ListRow(user, batch.surface, context, ids, scores, self.inputs_at.get(user, NO_INPUTS))
            for batch in self.batches
            for user, context, ids, scores in batch.lists.each()
        ]

    @classmethod
    def of_rows(cls, rows: Sequence[ListRow]) -> UserLists:
        """The lists of `rows`, each user stamped with the newest inputs_at of its rows."""
        inputs_at: dict[int, datetime] = {}
        for row in rows:
            inputs_at[row.user_id] = max(row.inputs_at, inputs_at.get(row.user_id, row.inputs_at))
        lengths = np.array([0] + [len(r.ids) for r in rows], dtype=np.int64)
        batches = [
            ListBatch(
                row.surface,
                FlatLists(
                    np.array([row.user_id], dtype=np.int64),
                    np.array([row.context], dtype=np.int64),
                    np.cumsum(lengths[[0, i + 1]]),
                    np.array(row.ids, dtype=np.int64),
                    np.array(row.scores, dtype=np.float64),
                ),
            )
            for i, row in enumerate(rows)
        ]
        return cls(batches, inputs_at)


def user_lists(
    bundle: Bundle,
    catalog: VenueCatalog,
    users: Sequence[UserRow],
    histories: Mapping[int, Sequence[Basket]],
    activity: Sequence[Activity],
    now: datetime,
    params: DiscoveryParams = DEFAULT_PARAMS,
) -> UserLists:
    """Every list of these users. Users without a `UserRow` (no known home) get items lists
    for the venues they ordered from only."""
    visits = _visits(histories, activity)
    batches: list[ListBatch] = []
    venues = {u: relevant_venues(h, ITEMS_VENUES) for u, h in histories.items()}
    for _, group in groupby(sorted(users, key=lambda u: u.city_id), key=lambda u: u.city_id):
        city_users = list(group)
        scored = score_city(catalog, bundle.venues, city_users, visits, now, params)
        found = discovery(catalog, scored, params)
        batches += [
            ListBatch("discovery", found),
            ListBatch("category", categories(catalog, scored, params)),
        ]
        tops = _tops(found, ITEMS_VENUES)
        for user, top in zip(found.user_ids.tolist(), tops, strict=True):
            venues[user] = _with_discovered(venues.get(user, []), top)
    everyone = {u: histories.get(u, ()) for u in venues}
    batches.append(ListBatch("items", venue_lists(bundle.items, everyone, venues, ITEMS_K)))
    return UserLists(batches, _inputs_at(histories, activity))


def _tops(found: FlatLists, k: int) -> list[list[int]]:
    """Each list's first 2k venues: enough, as at most k of them are venues already ordered from."""
    ids, bounds = found.ids.tolist(), found.bounds.tolist()
    return [ids[a : min(b, a + 2 * k)] for a, b in pairwise(bounds)]


def _with_discovered(ordered: list[int], discovered: list[int]) -> list[int]:
    extra = [v for v in discovered if v not in ordered]
    return (ordered + extra)[:ITEMS_VENUES]


def _visits(histories: Mapping[int, Sequence[Basket]], activity: Sequence[Activity]) -> Visits:
    """Every user's orders and venue activity, as affinity inputs."""
    baskets = [b for history in histories.values() for b in history]
    n = len(baskets) + len(activity)
    users = chain((b.user_id for b in baskets), (a.user_id for a in activity))
    venues = chain((b.venue_id for b in baskets), (a.venue_id for a in activity))
    at = chain((b.placed_at.timestamp() for b in baskets), (a.at.timestamp() for a in activity))
    clicks = np.fromiter((a.weight for a in activity), np.float64, len(activity))
    weights = np.concatenate([np.ones(len(baskets)), ACTIVITY_WEIGHT * clicks])
    return Visits(
        np.fromiter(users, np.int64, n),
        np.fromiter(venues, np.int64, n),
        np.fromiter(at, np.float64, n),
        weights,
    )


def _inputs_at(
    histories: Mapping[int, Sequence[Basket]], activity: Sequence[Activity]
) -> dict[int, datetime]:
    newest: dict[int, datetime] = {}
    stamps = [(b.user_id, b.placed_at) for h in histories.values() for b in h]
    for user, at in stamps + [(a.user_id, a.at) for a in activity]:
        if at > newest.get(user, NO_INPUTS):
            newest[user] = at
    return newest


def fallback_lists(
    bundle: Bundle, catalog: VenueCatalog, params: DiscoveryParams = DEFAULT_PARAMS
) -> list[FallbackRow]:
    """The cold-start lists: per city discovery and category; items and cart for every city."""
    rows: list[FallbackRow] = []
    for city in sorted(catalog.cities):
        scored = city_scores(catalog, bundle.venues, city, params)
        for surface, found in (
            ("discovery", discovery(catalog, scored, params)),
            ("category", categories(catalog, scored, params)),
        ):
            rows += [
                FallbackRow(city, surface, context, ids, scores)
                for _, context, ids, scores in found.each()
            ]
    return rows + items_fallbacks(bundle) + cart_complements(bundle)


def items_fallbacks(bundle: Bundle, k: int = ITEMS_K) -> list[FallbackRow]:
    """Each venue's most popular items."""
    model, rows = bundle.items, []
    for venue in model.venue_ids.tolist():
        columns, counts = popular_columns(model, venue)
        ids = model.item_ids[columns[:k]].tolist()
        rows.append(FallbackRow(EVERY_CITY, "items", venue, ids, counts[:k].tolist()))
    return rows


def cart_complements(bundle: Bundle) -> list[FallbackRow]:
    """Each item's complements (surface `cart`, context = the item)."""
    rows = []
    for item in bundle.cart.item_ids.tolist():
        found = complements_of(bundle.cart, item)
        if found:
            ids, scores = [i for i, _ in found], [round(s, 4) for _, s in found]
            rows.append(FallbackRow(EVERY_CITY, "cart", item, ids, scores))
    return rows
