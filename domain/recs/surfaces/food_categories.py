"""`food_categories`: the home screen's entry points per day-part (domain/recs/personal.py)."""

from __future__ import annotations

from collections.abc import Mapping

from domain.recs import personal
from domain.recs.discovery import CityScores, DiscoveryParams
from domain.recs.flat import FlatLists
from domain.recs.personal import DAYPARTS, MIN_SUPPLY
from domain.recs.surfaces.base import (
    Batch,
    CityRanker,
    Context,
    FallbackInputs,
    FallbackRow,
    Surface,
    city_fallbacks,
    per_city,
)
from domain.recs.venues import VenueCatalog

CATEGORIES_K = 20


def _ranker(dayparts: Mapping[int, int]) -> CityRanker:
    def ranked(catalog: VenueCatalog, scored: CityScores, _: DiscoveryParams) -> FlatLists:
        return personal.rank_categories(catalog, scored, dayparts, CATEGORIES_K)

    return ranked


def rank(batch: Batch) -> FlatLists:
    """Per user and day-part: categories with enough deliverable venues open then."""
    return per_city(batch, _ranker(batch.personal.dayparts))


def fallback(inputs: FallbackInputs) -> list[FallbackRow]:
    """Per city and day-part, categories by their venues' popularity and rating."""
    return city_fallbacks(inputs, SURFACE.name, _ranker(inputs.personal.dayparts))


_PARTS = ", ".join(f"{p.id} {p.name} {p.starts:02}-{p.ends:02}h" for p in DAYPARTS)

SURFACE = Surface(
    name="food_categories",
    description="Home-screen entry points (pizza, sushi, groceries...) for the time of day.",
    ids="category",
    context=Context(
        "daypart",
        f"the day-part ({_PARTS}, the city's local time); absent or 0: now",
        required=False,
    ),
    length=CATEGORIES_K,
    storage="per_user",
    ranking=(
        f"one list per day-part: categories with >= {MIN_SUPPLY} venues that deliver to the"
        " user and are open then (on most days), scored by the best such venue's discovery"
        " score plus a local-supply term (log of their number); a read without a day-part"
        " takes the current one in the city's time zone and drops categories that no longer"
        " deliver"
    ),
    rank=rank,
    fallback=fallback,
    personal=True,
)
