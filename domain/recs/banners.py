"""Banners: hierarchical Beta-Bernoulli Thompson sampling with position correction and logged
propensities (pure, numpy only).

Statistics are impressions and clicks per (banner, city, lifecycle segment, slot). From them:

- examination: slot p is looked at e[p] times as often as slot 0, e[p] = CTR(p) / CTR(0) over
  every banner (each CTR shrunk towards the overall one), clipped to [min_examination, 1]; an
  impression in slot p counts as e[p] impressions in slot 0 (`effective` impressions);
- hierarchical priors (empirical Bayes, as Wolt's carousels): the click-through of all banners,
  of the banner's kind (brand, category, venue, city-wide), of the banner in the city, and of
  the banner in the city and segment, each level's mean shrunk towards the coarser one with
  `prior_strength` pseudo-impressions: Beta(m p_parent + clicks, m (1 - p_parent) + non-clicks);
- Thompson sampling: per (city, segment) group, `draws` samples of every banner's click-through,
  shared by the group's users; a user's score for a banner is the sample times
  (1 + affinity_weight x the user's affinity to the banner's target, in [0, 1]); the user's
  ordering is the one of a draw chosen uniformly (draw 0 after shuffling), so the probability
  that this policy puts banner b in slot s is exactly the share of the group's draws that do;
- exploration: a `random_share` of users get a uniformly random ordering instead (exact
  propensity 1/n per slot); logged propensities mix both: eps/n + (1 - eps) * share of draws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

Segment = Literal["new", "returning", "lapsed"]
SEGMENTS: tuple[Segment, ...] = ("new", "returning", "lapsed")
LAPSED_DAYS = 60  # as store/intake/queries.py INSERT_ACTIVITY
KINDS = ("city", "brand", "category", "venue")


def lifecycle_segment(last_order_at: datetime | None, at: datetime) -> Segment:
    """new: no order before `at`; lapsed: the last over LAPSED_DAYS before; else returning."""
    if last_order_at is None:
        return "new"
    return "lapsed" if last_order_at < at - timedelta(days=LAPSED_DAYS) else "returning"


@dataclass(frozen=True)
class BannerSettings:
    """The banners policy's knobs (`LARDER_BANNER_*` settings)."""

    prior_strength: float = 20.0  # pseudo-impressions a coarser level lends a finer one
    random_share: float = 0.05  # users served a uniformly random ordering
    draws: int = 32  # posterior draws per (city, segment) group
    affinity_weight: float = 2.0
    slots: int = 10  # the longest ordering stored
    base_ctr: float = 0.02  # the prior of everything before any statistic
    min_examination: float = 0.05


DEFAULT_SETTINGS = BannerSettings()


class BannerRow(NamedTuple):
    """A banner as the rankers see it; empty targeting lists mean everyone."""

    banner_id: int
    city_ids: tuple[int, ...]
    category_ids: tuple[int, ...]
    brand_ids: tuple[int, ...]
    venue_ids: tuple[int, ...]
    segments: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    active: bool

    @property
    def kind(self) -> str:
        if self.venue_ids:
            return "venue"
        if self.brand_ids:
            return "brand"
        return "category" if self.category_ids else "city"

    def live_at(self, now: datetime) -> bool:
        """In flight and not paused: starts_at <= now < ends_at (to the microsecond)."""
        return self.active and self.starts_at <= now < self.ends_at

    def targets_city(self, city_id: int) -> bool:
        return not self.city_ids or city_id in self.city_ids

    def targets_segment(self, segment: str, tag: str | None) -> bool:
        """Empty: everyone; else the user's lifecycle segment or their own tag is listed."""
        return not self.segments or segment in self.segments or (tag in self.segments)


class StatRow(NamedTuple):
    banner_id: int
    city_id: int
    segment: str
    position: int
    impressions: int
    clicks: int


def examination(
    stats: Sequence[StatRow], settings: BannerSettings = DEFAULT_SETTINGS
) -> FloatArray:
    """Per slot (0..max seen): how often it is looked at relative to slot 0."""
    size = max((s.position for s in stats), default=0) + 1
    shown, clicked = np.zeros(size), np.zeros(size)
    for s in stats:
        shown[s.position] += s.impressions
        clicked[s.position] += s.clicks
    m = settings.prior_strength
    overall = (clicked.sum() + m * settings.base_ctr) / (shown.sum() + m)
    ctr = (clicked + m * overall) / (shown + m)
    return np.asarray(np.clip(ctr / ctr[0], settings.min_examination, 1.0))


@dataclass(frozen=True)
class Posteriors:
    """Every level's (clicks, effective impressions), and how to read a Beta posterior off them."""

    settings: BannerSettings
    examination: FloatArray
    overall: float
    kinds: Mapping[str, tuple[float, float]]
    banner_city: Mapping[tuple[int, int], tuple[float, float]]
    cell: Mapping[tuple[int, int, str], tuple[float, float]]

    def mean_of(self, parent: float, counts: tuple[float, float] | None) -> float:
        clicks, shown = counts or (0.0, 0.0)
        m = self.settings.prior_strength
        return (clicks + m * parent) / (shown + m)

    def beta(self, banner: BannerRow, city_id: int, segment: str) -> tuple[float, float]:
        """The Beta posterior of the banner's slot-0 click-through in the city and segment."""
        kind = self.mean_of(self.overall, self.kinds.get(banner.kind))
        in_city = self.mean_of(kind, self.banner_city.get((banner.banner_id, city_id)))
        clicks, shown = self.cell.get((banner.banner_id, city_id, segment), (0.0, 0.0))
        m = self.settings.prior_strength
        return m * in_city + clicks, m * (1.0 - in_city) + max(shown - clicks, 0.0)


def posteriors(
    banners: Sequence[BannerRow],
    stats: Sequence[StatRow],
    settings: BannerSettings = DEFAULT_SETTINGS,
) -> Posteriors:
    """Sum the statistics per level, impressions position-corrected (see the module docstring)."""
    factors = examination(stats, settings)
    kind_of = {b.banner_id: b.kind for b in banners}
    kinds: dict[str, tuple[float, float]] = {}
    banner_city: dict[tuple[int, int], tuple[float, float]] = {}
    cell: dict[tuple[int, int, str], tuple[float, float]] = {}
    total = [0.0, 0.0]
    for s in stats:
        clicks, shown = float(s.clicks), s.impressions * float(factors[s.position])
        shown = max(shown, clicks)  # a click whose impression never came still saw the banner
        _add(kinds, kind_of.get(s.banner_id, "city"), clicks, shown)
        _add(banner_city, (s.banner_id, s.city_id), clicks, shown)
        _add(cell, (s.banner_id, s.city_id, s.segment), clicks, shown)
        total[0] += clicks
        total[1] += shown
    m = settings.prior_strength
    overall = (total[0] + m * settings.base_ctr) / (total[1] + m)
    return Posteriors(settings, factors, overall, kinds, banner_city, cell)


def _add(table: dict[Any, tuple[float, float]], key: Any, clicks: float, shown: float) -> None:
    old = table.get(key, (0.0, 0.0))
    table[key] = (old[0] + clicks, old[1] + shown)


class Served(NamedTuple):
    """Per user (rows): banner columns in served order (-1 pads), expected click-through of each
    (posterior mean x affinity boost) and the logged propensity of each in its slot."""

    order: IntArray
    expected: FloatArray
    propensity: FloatArray


def serve(
    alpha: FloatArray,
    beta: FloatArray,
    eligible: BoolArray,
    affinity: FloatArray,
    rng: np.random.Generator,
    settings: BannerSettings = DEFAULT_SETTINGS,
) -> Served:
    """Orderings of one (city, segment) group: `alpha`, `beta` per banner column, `eligible`
    and `affinity` per user x column (see the module docstring)."""
    users, width = eligible.shape
    eligible = np.asarray(eligible, dtype=bool)
    slots = min(settings.slots, width)
    boost = 1.0 + settings.affinity_weight * np.clip(affinity, 0.0, 1.0)
    sampled = rng.beta(alpha, beta, size=(settings.draws, width))
    scores = np.where(eligible[:, None, :], sampled[None, :, :] * boost[:, None, :], -1.0)
    ranked = np.argsort(-scores, axis=2, kind="stable")[:, :, :slots]  # users x draws x slots
    order = ranked[np.arange(users), rng.integers(0, settings.draws, size=users)]
    explore: BoolArray = np.asarray(rng.random(users) < settings.random_share)
    order = np.where(explore[:, None], _shuffled(eligible, slots, rng), order)
    n = eligible.sum(axis=1)
    eps = settings.random_share
    propensity = eps / np.maximum(n, 1)[:, None] + (1 - eps) * _share_of(ranked, order)
    valid = np.arange(slots)[None, :] < n[:, None]
    order = np.where(valid, order, -1)
    mean = (alpha / (alpha + beta))[None, :] * boost
    expected = np.take_along_axis(mean, np.maximum(order, 0), axis=1)
    return Served(order, np.where(valid, expected, 0.0), np.where(valid, propensity, 0.0))


def _share_of(ranked: IntArray, order: IntArray) -> FloatArray:
    """Per user and slot: the share of the draws that put `order`'s banner in that slot."""
    return np.asarray((ranked == order[:, None, :]).mean(axis=1))


def _shuffled(eligible: BoolArray, slots: int, rng: np.random.Generator) -> IntArray:
    """A uniformly random ordering of each user's eligible columns (ineligible ones last)."""
    keys = np.where(eligible, rng.random(eligible.shape), 2.0)
    return np.argsort(keys, axis=1)[:, :slots].astype(np.int64)
