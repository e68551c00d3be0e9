"""`banners`: eligible banners by Thompson-sampled click-through (domain/recs/banners.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from operator import attrgetter

import numpy as np

from domain.recs import personal
from domain.recs.banners import DEFAULT_SETTINGS, lifecycle_segment
from domain.recs.flat import FlatLists
from domain.recs.items import Basket
from domain.recs.personal import PROPENSITY_CONTEXT
from domain.recs.surfaces.base import (
    EVERY_CITY,
    NO_CONTEXT,
    Batch,
    FallbackInputs,
    FallbackRow,
    Surface,
)


def segment_of(history: Sequence[Basket], now: datetime) -> str:
    """The user's lifecycle segment now, from their order history."""
    last = max(map(_PLACED_AT, history), default=None)  # (in C: this runs for every user)
    if last is not None and last > now:  # an order after `now`: the newest one before it
        last = max((b.placed_at for b in history if b.placed_at <= now), default=None)
    return lifecycle_segment(last, now)


_PLACED_AT = attrgetter("placed_at")


def rank(batch: Batch) -> FlatLists:
    """Per city, each user's eligible banners in a Thompson-sampled order, with propensities."""
    inputs = batch.personal
    if not inputs.banners:
        return FlatLists.empty()
    model = inputs.posteriors()
    rng = np.random.default_rng(inputs.seed)
    found = []
    for city, users in batch.cities():
        scored = batch.city_scores(city, users)
        segments = [segment_of(batch.histories.get(u, ()), batch.now) for u in scored.user_ids]
        found.append(
            personal.rank_banners(
                batch.catalog, scored, city, segments, inputs, model, batch.now, rng
            )
        )
    return FlatLists.concat(found)


def fallback(inputs: FallbackInputs) -> list[FallbackRow]:
    """Per city (and for every city), its live city-wide banners by posterior mean."""
    personal_inputs, now = inputs.personal, inputs.now
    if now is None or not personal_inputs.banners:
        return []
    model = personal_inputs.posteriors()
    rows = []
    for city in [*sorted(inputs.catalog.cities), EVERY_CITY]:
        ids, means = personal.fallback_banners(
            personal_inputs.banners, model, city, now, SURFACE.length
        )
        rows.append(FallbackRow(city, SURFACE.name, 0, ids, means))
        rows.append(FallbackRow(city, SURFACE.name, PROPENSITY_CONTEXT, ids, [1.0] * len(ids)))
    return rows


SURFACE = Surface(
    name="banners",
    description="Banners for the user, by expected click-through, with logged propensities.",
    ids="banner",
    context=NO_CONTEXT,
    length=DEFAULT_SETTINGS.slots,
    storage="per_user",
    ranking=(
        "live banners (flight, not paused) targeting the user's city and segment (new,"
        " returning, lapsed, or the user's tag) whose target (brand, category, venue) delivers"
        " to the user's home; Thompson sampling from hierarchical Beta priors (all banners ->"
        " kind -> banner in city -> banner in city x segment, prior strength a setting) on"
        " position-corrected impressions and clicks, times (1 + affinity to the target);"
        f" {DEFAULT_SETTINGS.random_share:.0%} of orderings uniformly random; each slot's"
        " propensity (exact mix of the random share and the share of posterior draws) is"
        " stored and served; overrides (pin, exclude, pause) apply at read time"
    ),
    rank=rank,
    fallback=fallback,
    personal=True,
)
