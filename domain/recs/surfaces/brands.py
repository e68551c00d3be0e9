"""`brands`: the brands (chains) that deliver to the user, best first (domain/recs/personal.py)."""

from __future__ import annotations

from domain.recs import personal
from domain.recs.discovery import CityScores, DiscoveryParams
from domain.recs.flat import FlatLists
from domain.recs.surfaces.base import (
    NO_CONTEXT,
    Batch,
    FallbackInputs,
    FallbackRow,
    Surface,
    city_fallbacks,
    per_city,
)
from domain.recs.venues import VenueCatalog

BRANDS_K = 30


def _rank(catalog: VenueCatalog, scored: CityScores, _: DiscoveryParams) -> FlatLists:
    return personal.rank_brands(catalog, scored, BRANDS_K)


def rank(batch: Batch) -> FlatLists:
    """Per user: each delivering brand scored by its best venue for the user."""
    return per_city(batch, _rank)


def fallback(inputs: FallbackInputs) -> list[FallbackRow]:
    """Per city, its brands by their best venue's popularity and rating (every city: the same
    over all venues)."""
    return city_fallbacks(inputs, SURFACE.name, _rank)


SURFACE = Surface(
    name="brands",
    description="The brands (chains) that deliver to the user, best first.",
    ids="brand",
    context=NO_CONTEXT,
    length=BRANDS_K,
    storage="per_user",
    ranking=(
        "brands with at least one active venue that delivers to the user's home, each scored by"
        " its best such venue's discovery score (personal affinity to the venue, the brand and"
        " its cuisine with recency decay, blended with city popularity, rating and closeness);"
        " a new user gets the city's ordering by popularity; reads drop a brand that no longer"
        " delivers and one excluded for the user (`larder recs overrides`)"
    ),
    rank=rank,
    fallback=fallback,
)
