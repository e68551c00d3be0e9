"""Brands, food categories and banners for a user (pure, numpy only): what the three surfaces
`brands`, `food_categories` and `banners` rank, from the discovery scores every surface shares
(`Batch.city_scores`: personal affinity to venue, brand and cuisine with recency decay,
popularity, rating, closeness; -inf where a venue does not deliver to the user's home).

- brands: a brand delivers to the user when one of its active venues does; its score is its best
  such venue's score (affinity to the brand and its cuisine is in every venue's score).
- food categories, per day-part of the city's local time (`DAYPARTS`, context = its id): the
  categories with at least `min_supply` venues that deliver to the user and are open in that
  day-part, scored by their best such venue plus a supply term (log of how many there are).
- banners: see `domain.recs.banners`; eligibility is city, flight, segment and a target (brand,
  category or venue) that delivers to the user's home; affinity to the target is the user's best
  target venue score over the user's best deliverable venue score, in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from itertools import chain
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from domain.opening import MINUTES_PER_DAY, WeeklyHours
from domain.recs.banners import (
    DEFAULT_SETTINGS,
    BannerRow,
    BannerSettings,
    Posteriors,
    StatRow,
    posteriors,
    serve,
)
from domain.recs.discovery import CityScores
from domain.recs.flat import FlatLists
from domain.recs.venues import VenueCatalog

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class Daypart(NamedTuple):
    id: int  # the food_categories context
    name: str
    starts: int  # local hour, inclusive
    ends: int  # local hour, exclusive (past midnight when smaller)


DAYPARTS: tuple[Daypart, ...] = (
    Daypart(1, "breakfast", 6, 11),
    Daypart(2, "lunch", 11, 15),
    Daypart(3, "afternoon", 15, 17),
    Daypart(4, "dinner", 17, 22),
    Daypart(5, "late", 22, 6),
)
ALL_DAYPARTS = (1 << len(DAYPARTS)) - 1
MIN_SUPPLY = 3
SUPPLY_WEIGHT = 0.25
PROPENSITY_CONTEXT = 1  # banners: context 0 holds the ordering, this one its propensities


def daypart_at(local: datetime) -> int:
    """The day-part id of a local wall-clock time (hours are [starts, ends): 11:00 is lunch)."""
    hour = local.hour
    for part in DAYPARTS:
        inside = part.starts <= hour < part.ends
        if inside if part.starts < part.ends else (hour >= part.starts or hour < part.ends):
            return part.id
    raise AssertionError("the day-parts cover the day")


def daypart_mask(hours: WeeklyHours) -> int:
    """Bit (id - 1) set for each day-part the venue is open in on most days (>= 4 of 7): open at
    the day-part's middle minute."""
    mask = 0
    for part in DAYPARTS:
        length = (part.ends - part.starts) % 24
        middle = (part.starts * 60 + length * 30) % MINUTES_PER_DAY
        days = sum(hours.open_at_minute(d * MINUTES_PER_DAY + middle) for d in range(7))
        if days >= 4:
            mask |= 1 << (part.id - 1)
    return mask


@dataclass(frozen=True)
class PersonalInputs:
    """What the three surfaces need beyond the venue catalog: banners with their statistics,
    per-venue day-parts (absent: open in all), users' segment tags, the banner settings."""

    banners: Sequence[BannerRow] = ()
    stats: Sequence[StatRow] = ()
    dayparts: Mapping[int, int] = field(default_factory=dict)
    tags: Mapping[int, str] = field(default_factory=dict)
    settings: BannerSettings = DEFAULT_SETTINGS
    seed: int | None = None  # the banners' random draws (None: fresh entropy)

    def posteriors(self) -> Posteriors:
        return posteriors(self.banners, self.stats, self.settings)


NO_INPUTS = PersonalInputs()


def lists_of(
    user_ids: Sequence[int],
    contexts: Any,
    ids: Any,
    matrix: FloatArray,
    k: int,
    keep_empty: bool = False,
) -> FlatLists:
    """One list per (row, context) pair of `matrix` (rows: users, columns: `ids`): its finite
    entries, best first (ties: lower column), at most k; users with an empty list get none,
    or (`keep_empty`) an empty list: "nothing for you now", not "no list"."""
    users, columns = matrix.shape
    if users == 0 or (columns == 0 and not keep_empty):
        return FlatLists.empty()
    order = np.argsort(-matrix, axis=1, kind="stable")[:, :k]
    values = np.take_along_axis(matrix, order, axis=1)
    keep = np.isfinite(values)
    lengths = keep.sum(axis=1)
    has = np.ones(users, bool) if keep_empty else lengths > 0
    bounds = np.concatenate([[0], np.cumsum(lengths[has])]).astype(np.int64)
    return FlatLists(
        np.asarray(user_ids, dtype=np.int64)[has],
        np.asarray(contexts, dtype=np.int64)[has],
        bounds,
        np.asarray(ids, dtype=np.int64)[order[keep]],
        np.round(values[keep], 4).astype(np.float64),
    )


# --- brands -----------------------------------------------------------------------------------


def brand_matrix(catalog: VenueCatalog, scored: CityScores) -> tuple[IntArray, FloatArray]:
    """(brand ids, users x brands best venue score; -inf: no venue of the brand delivers)."""
    brands = catalog.brand[scored.positions]
    mine = np.flatnonzero(brands != 0)
    if len(mine) == 0:
        return np.zeros(0, np.int64), np.zeros((scored.scores.shape[0], 0))
    order = mine[np.argsort(brands[mine], kind="stable")]
    ids, starts = np.unique(brands[order], return_index=True)
    return ids, np.maximum.reduceat(scored.scores[:, order], starts, axis=1)


def rank_brands(catalog: VenueCatalog, scored: CityScores, k: int) -> FlatLists:
    ids, matrix = brand_matrix(catalog, scored)
    contexts = np.zeros(len(scored.user_ids), np.int64)
    return lists_of(scored.user_ids, contexts, ids, matrix, k)


# --- food categories --------------------------------------------------------------------------


def category_members(catalog: VenueCatalog, scored: CityScores) -> dict[int, IntArray]:
    """Per category, its columns in the city's scores (computed once for every day-part)."""
    members: dict[int, list[int]] = {}
    for column, position in enumerate(scored.positions.tolist()):
        for category in catalog.categories[position]:
            members.setdefault(category, []).append(column)
    return {c: np.array(cols, np.int64) for c, cols in sorted(members.items())}


class _Members(NamedTuple):
    """Every category's columns end to end (category i's from starts[i]), categories by id."""

    ids: IntArray
    columns: IntArray
    starts: IntArray

    @classmethod
    def of(cls, members: Mapping[int, IntArray]) -> _Members:
        ids = np.fromiter(members, np.int64, len(members))
        lengths = np.fromiter((len(c) for c in members.values()), np.int64, len(members))
        columns = np.concatenate([np.zeros(0, np.int64), *members.values()]).astype(np.int64)
        return cls(ids, columns, (np.cumsum(lengths) - lengths).astype(np.int64))


def category_matrix(
    catalog: VenueCatalog,
    scored: CityScores,
    dayparts: Mapping[int, int],
    part: int,
    min_supply: int = MIN_SUPPLY,
    members: Mapping[int, IntArray] | None = None,
) -> tuple[IntArray, FloatArray]:
    """(category ids, users x categories score in day-part `part`; -inf: too few venues that
    deliver to the user and are open then). The categories with a venue open then are kept
    (one column each, by id)."""
    members = category_members(catalog, scored) if members is None else members
    return _CityCategories(scored, members, venue_masks(catalog, scored, dayparts)).matrix(
        part, min_supply
    )


class _CityCategories:
    """A city's scores gathered per category (every category's columns end to end, once for
    every day-part), and each gathered column's day-part mask."""

    def __init__(self, scored: CityScores, members: Mapping[int, IntArray], masks: IntArray):
        self.flat = _Members.of(members)
        self.scores = scored.scores[:, self.flat.columns]
        self.finite = np.isfinite(self.scores)
        self.masks = masks[self.flat.columns]

    def matrix(self, part: int, min_supply: int) -> tuple[IntArray, FloatArray]:
        flat, users = self.flat, self.scores.shape[0]
        if len(flat.ids) == 0:
            return flat.ids, np.full((users, 0), -np.inf)
        open_then = (self.masks & (1 << (part - 1))) != 0
        kept = np.logical_or.reduceat(open_then, flat.starts)
        sub = np.where(open_then[None, :], self.scores, -np.inf)
        supply = (self.finite & open_then[None, :]).astype(np.int64)
        supply = np.add.reduceat(supply, flat.starts, axis=1)[:, kept]
        best = np.maximum.reduceat(sub, flat.starts, axis=1)[:, kept]
        best = best + SUPPLY_WEIGHT * np.log1p(supply)
        return flat.ids[kept], np.where(supply >= min_supply, best, -np.inf)


def venue_masks(catalog: VenueCatalog, scored: CityScores, dayparts: Mapping[int, int]) -> IntArray:
    """Per column of the city's scores: the day-parts its venue is open in (default: all)."""
    venue_ids = catalog.venue_ids[scored.positions].tolist()
    return np.array([dayparts.get(v, ALL_DAYPARTS) for v in venue_ids], np.int64)


def rank_categories(
    catalog: VenueCatalog, scored: CityScores, dayparts: Mapping[int, int], k: int
) -> FlatLists:
    """One list per day-part (context = its id) per user."""
    found = []
    city = _CityCategories(
        scored, category_members(catalog, scored), venue_masks(catalog, scored, dayparts)
    )
    for part in DAYPARTS:
        ids, matrix = city.matrix(part.id, MIN_SUPPLY)
        contexts = np.full(len(scored.user_ids), part.id, np.int64)
        # every day-part gets a list, empty where nothing is open: a read at 03:00 answers
        # "nothing now" instead of "no list"
        found.append(lists_of(scored.user_ids, contexts, ids, matrix, k, keep_empty=True))
    return FlatLists.concat(found)


# --- banners ----------------------------------------------------------------------------------


def target_scores(
    catalog: VenueCatalog, scored: CityScores, banner: BannerRow
) -> FloatArray | None:
    """Per user: the best score of a target venue that delivers (-inf: none does); None for a
    city-wide banner (no target)."""
    if banner.kind == "city":
        return None
    positions = scored.positions
    if banner.kind == "venue":
        hit = np.isin(catalog.venue_ids[positions], banner.venue_ids)
    elif banner.kind == "brand":
        hit = np.isin(catalog.brand[positions], banner.brand_ids)
    else:
        hit = _in_categories(catalog, banner.category_ids)[positions]
    if not hit.any():
        return np.full(scored.scores.shape[0], -np.inf)
    return np.asarray(scored.scores[:, hit].max(axis=1))


def _in_categories(catalog: VenueCatalog, category_ids: tuple[int, ...]) -> BoolArray:
    """Per catalog position: whether the venue is in any of `category_ids`."""
    positions, categories = _category_entries(catalog)
    hit = np.zeros(len(catalog.venue_ids), bool)
    hit[positions[np.isin(categories, category_ids)]] = True
    return hit


@lru_cache(maxsize=4)  # per catalog snapshot: the same for every refresh job
def _category_entries(catalog: VenueCatalog) -> tuple[IntArray, IntArray]:
    """(catalog position, category) of every category of every venue."""
    counts = np.fromiter(map(len, catalog.categories), np.int64, len(catalog.categories))
    flat = np.fromiter(chain.from_iterable(catalog.categories), np.int64, int(counts.sum()))
    return np.repeat(np.arange(len(counts), dtype=np.int64), counts), flat


def eligibility(
    catalog: VenueCatalog,
    scored: CityScores,
    banners: Sequence[BannerRow],
    city_id: int,
    now: datetime,
) -> tuple[list[BannerRow], BoolArray, FloatArray]:
    """The city's live banners, users x banners: target delivers, and affinity to the target."""
    live = [b for b in banners if b.live_at(now) and b.targets_city(city_id)]
    users = len(scored.user_ids)
    eligible = np.ones((users, len(live)), bool)
    affinity = np.zeros((users, len(live)))
    best, middle = _spread(scored)
    for j, banner in enumerate(live):
        target = target_scores(catalog, scored, banner)
        if target is None:
            continue
        eligible[:, j] = np.isfinite(target)
        lifted = (target - middle) / np.maximum(best - middle, 1e-9)
        affinity[:, j] = np.where(eligible[:, j], np.clip(lifted, 0.0, 1.0), 0.0)
    return live, eligible, affinity


def _spread(scored: CityScores) -> tuple[FloatArray, FloatArray]:
    """Per user: the best and the median score of the venues that deliver (nan-free; 0 and 0
    for a user nothing delivers to). Affinity to a target is where its best venue falls
    between the two: 1 at the user's best venue, 0 at (or below) a middling one."""
    users, width = scored.scores.shape
    if width == 0:
        return np.zeros(users), np.zeros(users)
    count = np.isfinite(scored.scores).sum(axis=1)
    rows = np.arange(users)
    ordered = _ascending(scored)  # the -inf of venues that do not deliver first
    low = ordered(rows, np.maximum(width - count + (count - 1) // 2, 0))
    high = ordered(rows, width - count + count // 2 - (count == 0))
    none = count == 0  # nothing delivers: 0 and 0
    best = np.where(none, 0.0, ordered(rows, np.full(users, width - 1)))
    return best, np.where(none, 0.0, (low + high) / 2)  # as np.median: the middle two's mean


def _ascending(scored: CityScores) -> Callable[[IntArray, IntArray], FloatArray]:
    """(rows, i) -> each row's i-th smallest score: read through the city's shared order
    (best first, -inf last) when it has one, else from the rows sorted here."""
    order, width = scored.order, scored.scores.shape[1]
    if order is None:
        ordered = np.sort(scored.scores, axis=1)
        return lambda rows, at: np.asarray(ordered[rows, at])
    return lambda rows, at: np.asarray(scored.scores[rows, order[rows, width - 1 - at]])


def rank_banners(
    catalog: VenueCatalog,
    scored: CityScores,
    city_id: int,
    segments: Sequence[str],
    inputs: PersonalInputs,
    model: Posteriors,
    now: datetime,
    rng: np.random.Generator,
) -> FlatLists:
    """Each user's banners in served order (context 0, scores: expected click-through) and their
    propensities (context PROPENSITY_CONTEXT), one (city, segment) group at a time."""
    live, eligible, affinity = eligibility(catalog, scored, inputs.banners, city_id, now)
    if not live:
        return FlatLists.empty()
    tags = [inputs.tags.get(u) for u in scored.user_ids]
    for j, banner in enumerate(live):
        if banner.segments:  # (a banner without segments targets everyone)
            eligible[:, j] &= [
                banner.targets_segment(s, t) for s, t in zip(segments, tags, strict=True)
            ]
    found = []
    ids = np.array([b.banner_id for b in live], np.int64)
    of = np.asarray(segments)
    for segment in sorted(set(segments)):
        rows = np.flatnonzero(of == segment)
        prior = np.array([model.beta(b, city_id, segment) for b in live])
        got = serve(prior[:, 0], prior[:, 1], eligible[rows], affinity[rows], rng, inputs.settings)
        found.append(_served_lists(np.asarray(scored.user_ids)[rows], ids, got))
    return FlatLists.concat(found)


def _served_lists(user_ids: IntArray, ids: IntArray, served: Any) -> FlatLists:
    """Two lists per user with banners: the ordering (scores: expected click-through), then the
    same ids with their propensities (context PROPENSITY_CONTEXT)."""
    keep = served.order >= 0
    lengths = keep.sum(axis=1)
    has = lengths > 0
    if not has.any():
        return FlatLists.empty()
    order, keep, lengths = served.order[has], keep[has], lengths[has]
    values = np.empty((2 * len(order), order.shape[1]))
    values[0::2], values[1::2] = served.expected[has], served.propensity[has]
    doubled = np.repeat(keep, 2, axis=0)
    return FlatLists(
        np.repeat(user_ids[has], 2).astype(np.int64),
        np.tile(np.array([0, PROPENSITY_CONTEXT], np.int64), len(order)),
        np.concatenate([[0], np.cumsum(np.repeat(lengths, 2))]).astype(np.int64),
        ids[np.repeat(order, 2, axis=0)[doubled]].astype(np.int64),
        np.round(values[doubled], 5),
    )


def fallback_banners(
    banners: Sequence[BannerRow], model: Posteriors, city_id: int, now: datetime, k: int
) -> tuple[list[int], list[float]]:
    """A city's live city-wide banners (no target to check, no segment) for a user the refresh
    has not ranked, by posterior mean in segment new: deterministic (propensity 1). City 0
    (a user whose city is not known): the banners that target every city."""
    live = [
        b
        for b in banners
        if b.live_at(now)
        and b.kind == "city"
        and not b.segments
        and (b.targets_city(city_id) if city_id else not b.city_ids)
    ]
    means = sorted((_mean(model.beta(b, city_id, "new")), b.banner_id) for b in live)
    means.sort(key=lambda pair: (-pair[0], pair[1]))
    return [b for _, b in means[:k]], [round(m, 5) for m, _ in means[:k]]


def _mean(beta: tuple[float, float]) -> float:
    return beta[0] / (beta[0] + beta[1])


# --- read time ---------------------------------------------------------------------------------


class Served(NamedTuple):
    """A read's ordering: ids, scores and (banners) each slot's propensity."""

    ids: list[int]
    scores: list[float]
    propensities: list[float] | None


def apply_overrides(
    served: Served, pins: Sequence[tuple[int, int]], excluded: frozenset[int] = frozenset()
) -> Served:
    """Exclusions first (an excluded banner is never shown, pinned or not), then pins: each
    (banner, 1-based slot) moves the banner to that slot (the others keep their order around
    it), deterministic, so its propensity there is 1. A slot past the end appends."""
    keep = [i for i, id_ in enumerate(served.ids) if id_ not in excluded]
    ids = [served.ids[i] for i in keep]
    scores = [served.scores[i] for i in keep]
    props = None if served.propensities is None else [served.propensities[i] for i in keep]
    for banner, slot in sorted((p for p in pins if p[0] not in excluded), key=lambda p: p[1]):
        score = 0.0
        if banner in ids:
            at = ids.index(banner)
            score = scores.pop(at)
            ids.pop(at)
            if props is not None:
                props.pop(at)
        at = min(max(slot, 1) - 1, len(ids))
        ids.insert(at, banner)
        scores.insert(at, score)
        if props is not None:
            props.insert(at, 1.0)
    return Served(ids, scores, props)
