"""Venue-level artefacts and the catalog the venue rankers see (pure, numpy only).

`VenueModel` is trained from order history with the items model (one model version holds both):
- popularity: each venue's orders, halved every POPULARITY_HALF_LIFE_DAYS before the newest order;
- neighbours: "people who order where you order also order at": cosine similarity between venues
  over the sets of users who ordered there, the NEIGHBOURS most similar venues kept per venue.

The co-occurrence is counted in a dense venues x venues matrix: 8 bytes per cell, so ~32 MiB for
2k venues and ~800 MiB for 10k. Past that, count per city (venues of different cities never share
users in a meaningful way); not needed at the sizes larder runs today.

`VenueCatalog` is the catalog snapshot the rankers read: where each venue is, how far it delivers,
its brand, cuisine, categories and rating. Built from rows the store reads, cached per process.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from domain.recs.items import Basket, Csr

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

POPULARITY_HALF_LIFE_DAYS = 30.0
NEIGHBOURS = 50
DAY_S = 86_400.0


@dataclass(frozen=True, eq=False)
class VenueModel:
    venue_ids: IntArray  # sorted: every venue with an order in training
    popularity: FloatArray  # per venue: recency-decayed order count
    neighbours: Csr  # rows and columns are positions in venue_ids; values: cosine similarity


def decay(ages_s: FloatArray, half_life_days: float) -> FloatArray:
    """Weights that halve every `half_life_days` of age (ages in seconds, >= 0)."""
    return np.asarray(0.5 ** (np.maximum(ages_s, 0.0) / (half_life_days * DAY_S)))


def train_venues(baskets: Sequence[Basket], neighbours: int = NEIGHBOURS) -> VenueModel:
    if not baskets:
        empty = np.zeros(0, dtype=np.int64)
        return VenueModel(empty, np.zeros(0), Csr(np.zeros(1, np.int64), empty, np.zeros(0)))
    venues = np.array([b.venue_id for b in baskets], dtype=np.int64)
    users = np.array([b.user_id for b in baskets], dtype=np.int64)
    stamps = np.array([b.placed_at.timestamp() for b in baskets])
    venue_ids, venue_pos = np.unique(venues, return_inverse=True)
    weights = decay(stamps.max() - stamps, POPULARITY_HALF_LIFE_DAYS)
    popularity = np.bincount(venue_pos, weights=weights, minlength=len(venue_ids)).astype(float)
    similarity = _covisitation(users, venue_pos, len(venue_ids))
    return VenueModel(venue_ids, popularity, _top_rows(similarity, neighbours))


def _covisitation(users: IntArray, venue_pos: IntArray, n: int) -> FloatArray:
    """Cosine similarity of venues over their sets of ordering users (diagonal zero)."""
    pairs = np.unique(np.stack([users, venue_pos], axis=1), axis=0)  # (user, venue) sorted
    counts = np.zeros(n * n)
    for offset in range(1, _longest_run(pairs[:, 0]) + 1):
        same = pairs[:-offset, 0] == pairs[offset:, 0]
        a, b = pairs[:-offset, 1][same], pairs[offset:, 1][same]
        counts += np.bincount(a * n + b, minlength=n * n) + np.bincount(b * n + a, minlength=n * n)
    users_per_venue = np.bincount(pairs[:, 1], minlength=n).astype(np.float64)
    norm = np.sqrt(np.outer(users_per_venue, users_per_venue))
    return np.divide(counts.reshape(n, n), norm, out=np.zeros((n, n)), where=norm > 0)


def _longest_run(sorted_keys: IntArray) -> int:
    """Length - 1 of the longest run of equal keys: the largest offset that pairs anything."""
    if len(sorted_keys) == 0:
        return 0
    _, counts = np.unique(sorted_keys, return_counts=True)
    return int(counts.max()) - 1


def _top_rows(matrix: FloatArray, k: int) -> Csr:
    """Each row's k largest positive entries, as CSR with columns sorted."""
    n = matrix.shape[0]
    k = min(k, max(n - 1, 0))
    if n == 0 or k == 0:
        return Csr(np.zeros(n + 1, np.int64), np.zeros(0, np.int64), np.zeros(0))
    top = np.sort(np.argpartition(-matrix, k - 1, axis=1)[:, :k], axis=1)
    values = np.take_along_axis(matrix, top, axis=1)
    keep = values > 0
    indptr = np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).astype(np.int64)
    return Csr(indptr, top[keep].astype(np.int64), values[keep])


class VenueRow(NamedTuple):
    """One venue as the store reads it."""

    venue_id: int
    city_id: int
    brand_id: int | None
    lat: float
    lon: float
    delivery_radius_m: int
    cuisines: Sequence[str]
    category_ids: Sequence[int]
    rating: float | None
    active: bool


@dataclass(frozen=True, eq=False)
class VenueCatalog:
    """Per-venue arrays, venues sorted by id; `cities` maps a city to its venues' positions."""

    venue_ids: IntArray
    city: IntArray
    brand: IntArray  # 0: no brand (independent venue)
    cuisine: IntArray  # code of the first cuisine; -1: none
    categories: tuple[tuple[int, ...], ...]
    lat: FloatArray
    lon: FloatArray
    radius_m: FloatArray
    rating: FloatArray  # nan: not rated
    active: BoolArray
    cities: dict[int, IntArray]
    loaded_at: datetime | None = None

    @classmethod
    def from_rows(cls, rows: Iterable[VenueRow], loaded_at: datetime | None = None) -> VenueCatalog:
        ordered = sorted(rows, key=lambda row: row.venue_id)
        city = np.array([r.city_id for r in ordered], dtype=np.int64)
        cuisine_codes: dict[str, int] = {}
        return cls(
            venue_ids=np.array([r.venue_id for r in ordered], dtype=np.int64),
            city=city,
            brand=np.array([r.brand_id or 0 for r in ordered], dtype=np.int64),
            cuisine=np.array([_code(r.cuisines, cuisine_codes) for r in ordered], dtype=np.int64),
            categories=tuple(tuple(r.category_ids) for r in ordered),
            lat=np.array([r.lat for r in ordered], dtype=np.float64),
            lon=np.array([r.lon for r in ordered], dtype=np.float64),
            radius_m=np.array([r.delivery_radius_m for r in ordered], dtype=np.float64),
            rating=np.array([np.nan if r.rating is None else r.rating for r in ordered]),
            active=np.array([r.active for r in ordered], dtype=bool),
            cities={int(c): np.flatnonzero(city == c) for c in np.unique(city)},
            loaded_at=loaded_at,
        )

    def positions(self, venue_ids: Any) -> IntArray:
        """Positions of known venue ids (unknown ids map to -1)."""
        ids = np.asarray(venue_ids, dtype=np.int64)
        if len(self.venue_ids) == 0:  # an empty catalog knows no venue
            return np.full(ids.shape, -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.venue_ids, ids), len(self.venue_ids) - 1)
        return np.where(self.venue_ids[at] == ids, at, -1)


def _code(cuisines: Sequence[str], codes: dict[str, int]) -> int:
    if not cuisines:
        return -1
    return codes.setdefault(cuisines[0], len(codes))
