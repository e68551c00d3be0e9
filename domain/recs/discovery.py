"""Ranking venues for a user: the discovery and category surfaces (pure, numpy only).

A batch of users of one city is scored against that city's venues in one users x venues matrix:

    score = 3.0 venue affinity + 1.0 brand affinity + 1.0 cuisine affinity
          + 1.5 collaborative + 1.0 popularity + 0.5 rating + 0.5 closeness + 0.6 exploration

- affinity: the user's orders (weight 1) and venue activity (weight ACTIVITY_WEIGHT: a view is a
  weaker signal than an order), halved every AFFINITY_HALF_LIFE_DAYS, as a share of the user's
  total; brand and cuisine affinity add up the shares of all venues of that brand / cuisine;
- collaborative: the user's venue shares spread over each venue's co-visitation neighbours
  (`VenueModel.neighbours`), scaled so the user's best is 1;
- popularity: log of the recency-decayed order count, scaled so the city's best is 1;
- rating: 3.0 -> 0, 5.0 -> 1 (unrated: 0.5); closeness: 1 at the door, 0 at the radius edge;
- exploration: venues the user never used get a uniform [0, 1) draw, deterministic per user, venue
  and day, so lists rotate their exploration slots daily and a recompute is reproducible;
- only venues that deliver to the user's home (distance <= the venue's radius) and are active.

The weights are priors written down, not fitted: there is no discovery click log to fit them on.
Personal terms dominate for users with history; popularity, rating and closeness order the rest
(and everything for a user without history). A diversity pass then keeps at most 2 venues of one
brand and 3 of one cuisine in any 10 consecutive entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from itertools import chain
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from domain.geo import distance_m
from domain.recs.flat import FlatLists, ranges
from domain.recs.items import _gather
from domain.recs.venues import DAY_S, VenueCatalog, VenueModel, decay

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

AFFINITY_HALF_LIFE_DAYS = 60.0
ACTIVITY_WEIGHT = 0.25


@dataclass(frozen=True)
class DiscoveryParams:
    venue: float = 3.0
    brand: float = 1.0
    cuisine: float = 1.0
    collaborative: float = 1.5
    popularity: float = 1.0
    rating: float = 0.5
    closeness: float = 0.5
    exploration: float = 0.6
    window: int = 10
    per_brand: int = 2
    per_cuisine: int = 3
    k: int = 100
    category_k: int = 50
    min_category_venues: int = 5


DEFAULT_PARAMS = DiscoveryParams()


class UserRow(NamedTuple):
    user_id: int
    city_id: int
    home_lat: float
    home_lon: float


class Visits(NamedTuple):
    """Affinity inputs end to end: user_ids[i]'s order at venue_ids[i] (weight 1) or venue
    activity there (ACTIVITY_WEIGHT), at epoch second at_s[i]."""

    user_ids: IntArray
    venue_ids: IntArray
    at_s: FloatArray
    weights: FloatArray


@dataclass(frozen=True, eq=False)
class CityScores:
    """Scores of a batch of users (rows) against a city's venues (columns)."""

    user_ids: list[int]
    positions: IntArray  # catalog positions of the columns
    scores: FloatArray  # -inf where the venue does not deliver to the user
    visited: BoolArray

    @cached_property
    def order(self) -> IntArray | None:
        """Per row, the columns best first, those at -inf last in any order (one unstable
        SIMD sort per row, ~3x faster than a stable one; shared by the discovery and category
        lists); None when a row has two equal finite scores: callers then sort stably, so that
        ties go to the lower column."""
        return _unstable_order(self.scores)


def score_city(
    catalog: VenueCatalog,
    model: VenueModel,
    users: Sequence[UserRow],
    visits: Visits,
    now: datetime,
    params: DiscoveryParams = DEFAULT_PARAMS,
) -> CityScores:
    """Score users of one city (`users[0].city_id`; at least one user) against every venue of
    that city."""
    positions = catalog.cities.get(users[0].city_id, np.zeros(0, np.int64))
    lat = np.array([u.home_lat for u in users])
    lon = np.array([u.home_lon for u in users])
    dist = distance_m(lat, lon, catalog.lat[positions], catalog.lon[positions])
    radius = catalog.radius_m[positions]
    deliverable = (dist <= radius) & catalog.active[positions]
    affinity = _affinity(catalog, positions, users, visits, now)
    share = affinity / np.maximum(affinity.sum(axis=1, keepdims=True), 1e-12)
    user_ids = [u.user_id for u in users]
    terms = {
        "venue": share,
        "brand": _grouped(share, catalog.brand[positions], none=0),
        "cuisine": _grouped(share, catalog.cuisine[positions], none=-1),
        "collaborative": _collaborative(share, catalog, positions, model),
        "popularity": _popularity(catalog, positions, model)[None, :],
        "rating": _rating(catalog, positions)[None, :],
        "closeness": np.clip(1.0 - dist / np.maximum(radius, 1.0), 0.0, 1.0),
        "exploration": (affinity == 0) * _noise(user_ids, catalog.venue_ids[positions], now),
    }
    scores = sum(getattr(params, name) * term for name, term in terms.items())
    scores = np.where(deliverable, scores, -np.inf)
    return CityScores(user_ids, positions, scores, affinity > 0)


def city_scores(
    catalog: VenueCatalog, model: VenueModel, city_id: int, params: DiscoveryParams
) -> CityScores:
    """One row for the city as a whole (the cold-start fallback): active venues by popularity
    and rating, no location, no personal terms, no exploration."""
    return area_scores(catalog, model, catalog.cities.get(city_id, np.zeros(0, np.int64)), params)


def every_city_scores(
    catalog: VenueCatalog, model: VenueModel, params: DiscoveryParams
) -> CityScores:
    """`city_scores` over every venue of every city: the fallback of a user whose city is not
    known (popularity is scaled over all venues)."""
    return area_scores(catalog, model, np.arange(len(catalog.venue_ids), dtype=np.int64), params)


def area_scores(
    catalog: VenueCatalog, model: VenueModel, positions: IntArray, params: DiscoveryParams
) -> CityScores:
    """One row scoring the venues at `positions` (catalog positions) for nobody in particular."""
    scores = params.popularity * _popularity(catalog, positions, model) + params.rating * _rating(
        catalog, positions
    )
    scores = np.where(catalog.active[positions], scores, -np.inf)[None, :]
    return CityScores([0], positions, scores, np.zeros(scores.shape, dtype=bool))


def _affinity(
    catalog: VenueCatalog,
    positions: IntArray,
    users: Sequence[UserRow],
    visits: Visits,
    now: datetime,
) -> FloatArray:
    if len(positions) == 0:  # a city without venues: no affinity to anything
        return np.zeros((len(users), 0))
    user_ids = np.fromiter((u.user_id for u in users), np.int64, len(users))
    order = np.argsort(user_ids, kind="stable")
    at = np.minimum(np.searchsorted(user_ids[order], visits.user_ids), len(users) - 1)
    mine = user_ids[order][at] == visits.user_ids
    rows = order[at[mine]]
    local = np.full(len(catalog.venue_ids), -1, dtype=np.int64)
    local[positions] = np.arange(len(positions))
    venue = catalog.positions(visits.venue_ids[mine])
    column = np.where(venue >= 0, local[venue], -1)
    ages = now.timestamp() - visits.at_s[mine]
    weights = visits.weights[mine] * decay(ages, AFFINITY_HALF_LIFE_DAYS)
    keep = column >= 0
    flat = rows[keep] * len(positions) + column[keep]
    cells = np.bincount(flat, weights=weights[keep], minlength=len(users) * len(positions))
    return cells.astype(np.float64).reshape(len(users), len(positions))


def _grouped(share: FloatArray, codes: IntArray, none: int) -> FloatArray:
    """Per column: the summed share of every column with the same code (0 where code is none)."""
    _, group = np.unique(codes, return_inverse=True)
    members = np.zeros((len(codes), int(group.max(initial=-1)) + 1))
    members[np.arange(len(codes)), group] = 1.0
    return np.where(codes == none, 0.0, (share @ members)[:, group])


def _collaborative(
    share: FloatArray, catalog: VenueCatalog, positions: IntArray, model: VenueModel
) -> FloatArray:
    model_row = _rows_in(model.venue_ids, catalog.venue_ids[positions])
    local = np.full(len(model.venue_ids), -1, dtype=np.int64)
    local[model_row[model_row >= 0]] = np.flatnonzero(model_row >= 0)
    user, column = np.nonzero(share * (model_row >= 0)[None, :])
    owner, at = _gather(model.neighbours, model_row[column])
    target = local[model.neighbours.indices[at]]
    keep = target >= 0
    weights = share[user[owner], column[owner]] * model.neighbours.data[at]
    flat = user[owner][keep] * len(positions) + target[keep]
    spread = np.bincount(flat, weights=weights[keep], minlength=share.size).reshape(share.shape)
    best = spread.max(axis=1, keepdims=True, initial=0.0)  # a city without venues: no columns
    return spread / np.maximum(best, 1e-12)


def _popularity(catalog: VenueCatalog, positions: IntArray, model: VenueModel) -> FloatArray:
    row = _rows_in(model.venue_ids, catalog.venue_ids[positions])
    if len(model.venue_ids) == 0:  # a model trained on no orders: nobody is popular
        return np.zeros(len(row))
    counts = np.where(row >= 0, model.popularity[np.maximum(row, 0)], 0.0) if len(row) else row
    logs = np.log1p(np.asarray(counts, dtype=np.float64))
    return logs / max(float(logs.max(initial=0.0)), 1e-12)


def _rating(catalog: VenueCatalog, positions: IntArray) -> FloatArray:
    return np.nan_to_num(np.clip((catalog.rating[positions] - 3.0) / 2.0, 0.0, 1.0), nan=0.5)


def _rows_in(sorted_ids: IntArray, ids: IntArray) -> IntArray:
    if len(sorted_ids) == 0:
        return np.full(len(ids), -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return np.where(sorted_ids[at] == ids, at, -1).astype(np.int64)


_M1, _M2, _M3 = (
    np.uint64(0x9E3779B97F4A7C15),
    np.uint64(0xBF58476D1CE4E5B9),
    np.uint64(0x94D049BB133111EB),
)


def _noise(user_ids: Sequence[int], venue_ids: IntArray, now: datetime) -> FloatArray:
    """Uniform [0, 1) per (user, venue, day) from a splitmix64-style hash: reproducible."""
    day = np.array([int(now.timestamp() // DAY_S)], dtype=np.uint64)
    users = np.array(user_ids, dtype=np.uint64)[:, None]
    x = (users * _M1) ^ (venue_ids.astype(np.uint64)[None, :] * _M2) ^ (day * _M3)
    x ^= x >> np.uint64(30)
    x *= _M2
    x ^= x >> np.uint64(27)
    x *= _M3
    x ^= x >> np.uint64(31)
    return np.asarray((x >> np.uint64(11)).astype(np.float64) / float(1 << 53))


# ---------------------------------------------------------------------------------------------
# lists


def discovery(catalog: VenueCatalog, scored: CityScores, params: DiscoveryParams) -> FlatLists:
    """Each user's best deliverable venues, diversified, at most `params.k`."""
    width = min(len(scored.positions), params.k * 2)
    rows = np.arange(len(scored.user_ids))
    order = scored.order
    top = order[:, :width] if order is not None else _top(scored.scores, width)
    flat, lengths = _deliverable(scored, rows, top)
    brand = _slots(catalog.brand[scored.positions].tolist(), none=0)
    cuisine = _slots(catalog.cuisine[scored.positions].tolist(), none=-1)
    starts = (np.cumsum(lengths) - lengths).tolist()
    candidates, chosen = flat.tolist(), []
    for start, length in zip(starts, lengths.tolist(), strict=True):
        chosen.append(_diversify(candidates[start : start + length], brand, cuisine, params))
    counts = np.fromiter(map(len, chosen), np.int64, len(chosen))
    columns = np.fromiter(chain.from_iterable(chosen), np.int64, int(counts.sum()))
    return _ranked(catalog, scored, rows, np.zeros(len(rows), np.int64), columns, counts)


def categories(catalog: VenueCatalog, scored: CityScores, params: DiscoveryParams) -> FlatLists:
    """Per category with at least `min_category_venues` deliverable venues: its venues, ranked.
    Every category at once: each row's (category, venue) slots in its venues' order
    (`CityScores.order`), then grouped by category by a stable sort of small codes."""
    members = _category_columns(catalog, scored.positions)
    if scored.order is None or not members:  # tied scores (ties go to the lower column), or none
        return _categories_one_by_one(catalog, scored, params, members)
    sizes = np.fromiter(map(len, members.values()), np.int64, len(members))
    starts = np.cumsum(sizes) - sizes
    column = np.concatenate(list(members.values()))  # each slot's column, category by category
    category = np.repeat(np.arange(len(sizes)), sizes).astype(np.min_scalar_type(len(sizes)))
    slots = _slots_in_order(scored.order, column)
    grouped = np.argsort(category[slots], axis=1, kind="stable")  # radix: best first in each
    ranked = column[np.take_along_axis(slots, grouped, axis=1)]
    deliverable = np.add.reduceat((scored.scores[:, column] > -np.inf).astype(np.int64), starts, 1)
    enough = deliverable >= params.min_category_venues
    listed, row = np.nonzero(enough.T)  # categories in order, then rows
    lengths = np.minimum(deliverable[row, listed], params.category_k)
    columns = ranked.ravel()[ranges(row * len(column) + starts[listed], lengths)]
    codes = np.fromiter(members, np.int64, len(members))
    return _ranked(catalog, scored, row, codes[listed], columns, lengths)


def _slots_in_order(order: IntArray, column: IntArray) -> IntArray:
    """Per row of `order` (columns, best first), the slots of each column in that order (slot i
    is column[i]'s; a column may have several slots, or none)."""
    by_column = np.argsort(column, kind="stable")
    count = np.bincount(column, minlength=order.shape[1])
    first = np.cumsum(count) - count
    flat = order.ravel()
    return by_column[ranges(first[flat], count[flat])].reshape(len(order), len(column))


def _categories_one_by_one(
    catalog: VenueCatalog,
    scored: CityScores,
    params: DiscoveryParams,
    members: dict[int, IntArray],
) -> FlatLists:
    """`categories` one category at a time (`members`: each category's columns)."""
    rows, contexts, flats, lengths = [], [], [], []
    for category, columns in members.items():
        sub = scored.scores[:, columns]
        enough = np.flatnonzero((sub > -np.inf).sum(axis=1) >= params.min_category_venues)
        if len(enough) == 0:
            continue
        top = columns[_top(sub[enough], min(len(columns), params.category_k))]
        flat, length = _deliverable(scored, enough, top)
        rows.append(enough)
        contexts.append(np.full(len(enough), category, dtype=np.int64))
        flats.append(flat)
        lengths.append(length)
    if not rows:
        empty = np.zeros(0, np.int64)
        return _ranked(catalog, scored, empty, empty, empty, empty)
    row_of, context = np.concatenate(rows), np.concatenate(contexts)
    return _ranked(catalog, scored, row_of, context, np.concatenate(flats), np.concatenate(lengths))


def _deliverable(scored: CityScores, rows: IntArray, top: IntArray) -> tuple[IntArray, IntArray]:
    """Per row, its `top` columns (row i of `top` belongs to `rows[i]`) that deliver to the user:
    all rows' columns end to end, and how many each row has."""
    keep = scored.scores[rows[:, None], top] > -np.inf
    return top[keep], keep.sum(axis=1).astype(np.int64)


def _category_columns(catalog: VenueCatalog, positions: IntArray) -> dict[int, IntArray]:
    members: dict[int, list[int]] = {}
    for column, position in enumerate(positions.tolist()):
        for category in catalog.categories[position]:
            members.setdefault(category, []).append(column)
    return {c: np.array(cols, dtype=np.int64) for c, cols in sorted(members.items())}


def _ranked(
    catalog: VenueCatalog,
    scored: CityScores,
    rows: IntArray,
    contexts: IntArray,
    columns: IntArray,
    lengths: IntArray,
) -> FlatLists:
    """One list per row (user row `rows[i]`, context `contexts[i]`, its `lengths[i]` columns,
    end to end in `columns`, best first): the columns' venue ids and rounded scores."""
    ids = catalog.venue_ids[scored.positions[columns]]
    scores = np.round(scored.scores[np.repeat(rows, lengths), columns], 4)
    bounds = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    users = np.asarray(scored.user_ids, dtype=np.int64)[rows]
    return FlatLists(users, contexts, bounds, ids.astype(np.int64), scores)


def _top(scores: FloatArray, k: int) -> IntArray:
    """Per row, the columns of the k best scores, best first; ties between finite scores go to
    the lower column, columns at -inf (venues that do not deliver: every caller drops them) come
    last in any order. One unstable sort per row (SIMD, ~3x faster than a stable one); the
    stable passes only when a row has two equal finite scores among its k + 1 best."""
    if k <= 0:
        return np.zeros((scores.shape[0], 0), dtype=np.int64)
    order = _unstable_order(scores, depth=k + 1)
    return _stable_top(scores, k) if order is None else order[:, :k]


def _unstable_order(scores: FloatArray, depth: int | None = None) -> IntArray | None:
    """Per row, the columns best first by one unstable sort, -inf ones last in any order; None
    when a row has two equal finite scores among its `depth` best (all: None), where an unstable
    sort could put the higher column first."""
    negated = -scores
    order = np.argsort(negated, axis=1)
    ranked = np.take_along_axis(negated, order[:, :depth], axis=1)
    if np.any((ranked[:, 1:] == ranked[:, :-1]) & (ranked[:, 1:] < np.inf)):
        return None
    return order.astype(np.int64, copy=False)


def _stable_top(scores: FloatArray, k: int) -> IntArray:
    """`_top` with every tie to the lower column, -inf ones too (k >= 1)."""
    if k < scores.shape[1]:  # the k best, in column order (so that a stable sort breaks ties)
        part = np.sort(np.argpartition(-scores, k - 1, axis=1)[:, :k], axis=1)
    else:
        part = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    keys = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-keys, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1).astype(np.int64)


def diversify(
    columns: Sequence[int], brand: Sequence[int], cuisine: Sequence[int], params: DiscoveryParams
) -> list[int]:
    """Greedy re-rank: at each position, the best remaining venue that keeps its brand under
    `per_brand` and its cuisine under `per_cuisine` within the last `window` entries; when none
    fits, the best remaining one (a short list is better than an empty slot). Brand 0 and
    cuisine -1 (none) are never limited."""
    return _diversify(columns, _slots(brand, none=0), _slots(cuisine, none=-1), params)


class _Slots(NamedTuple):
    """Codes per column as dense slots 1.., slot 0 for the code that is never limited."""

    of: list[int]  # slot of each column
    size: int  # number of slots, 0 included


def _slots(codes: Sequence[int], none: int) -> _Slots:
    slot: dict[int, int] = {none: 0}
    return _Slots([slot.setdefault(code, len(slot)) for code in codes], len(slot))


def _diversify(
    columns: Sequence[int], brand: _Slots, cuisine: _Slots, params: DiscoveryParams
) -> list[int]:
    """`diversify` on slots. Plain Python on purpose: the next column almost always fits, so a
    position costs a few list reads (this runs for every position of every discovery list).
    Slot 0 starts at a count no list reaches the limit from. Each column is looked at on the way
    down the list; one that does not fit waits (best first) and, after each pick, the waiting
    ones are looked at again ahead of the columns not reached yet: the greedy's own order,
    without removing picks from the middle of a list of everything left."""
    window, per_brand, per_cuisine = params.window, params.per_brand, params.per_cuisine
    brand_of, cuisine_of = brand.of, cuisine.of
    brands, cuisines = [0] * brand.size, [0] * cuisine.size
    brands[0] = cuisines[0] = -(1 << 62)
    chosen, waiting = list[int](), list[int]()
    for column in columns:
        b, c = brand_of[column], cuisine_of[column]
        if brands[b] >= per_brand or cuisines[c] >= per_cuisine:
            waiting.append(column)
            continue
        while True:  # pick `column`, then the first waiting column that fits now, if any
            chosen.append(column)
            brands[b] += 1
            cuisines[c] += 1
            if (n := len(chosen)) >= window:
                leaving = chosen[n - window]
                brands[brand_of[leaving]] -= 1
                cuisines[cuisine_of[leaving]] -= 1
            if n >= params.k:
                return chosen
            for i, column in enumerate(waiting):
                b, c = brand_of[column], cuisine_of[column]
                if brands[b] < per_brand and cuisines[c] < per_cuisine:
                    del waiting[i]
                    break
            else:
                break
    return _diversify_rest(waiting, chosen, (brand_of, brands), (cuisine_of, cuisines), params)


def _diversify_rest(
    waiting: list[int],
    chosen: list[int],
    brand: tuple[list[int], list[int]],
    cuisine: tuple[list[int], list[int]],
    params: DiscoveryParams,
) -> list[int]:
    """`_diversify` once every column was looked at: `chosen` continued from the columns still
    waiting (the first that fits, else the best: a short list is better than an empty slot);
    `brand` and `cuisine` are (slot of each column, count of each slot in the window)."""
    (brand_of, brands), (cuisine_of, cuisines) = brand, cuisine
    while waiting and len(chosen) < params.k:
        fits = (
            i
            for i, column in enumerate(waiting)
            if brands[brand_of[column]] < params.per_brand
            and cuisines[cuisine_of[column]] < params.per_cuisine
        )
        column = waiting.pop(next(fits, 0))
        chosen.append(column)
        brands[brand_of[column]] += 1
        cuisines[cuisine_of[column]] += 1
        if len(chosen) >= params.window:
            leaving = chosen[-params.window]
            brands[brand_of[leaving]] -= 1
            cuisines[cuisine_of[leaving]] -= 1
    return chosen
