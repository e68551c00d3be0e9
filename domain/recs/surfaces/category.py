"""`category`: per food category, the user's venues of that category, best first."""

from __future__ import annotations

from domain.recs import discovery as venues
from domain.recs.discovery import DEFAULT_PARAMS
from domain.recs.flat import FlatLists
from domain.recs.surfaces.base import (
    Batch,
    Context,
    FallbackInputs,
    FallbackRow,
    Surface,
    city_fallbacks,
    per_city,
)


def rank(batch: Batch) -> FlatLists:
    """The discovery scores of the user's city, one list per category with enough venues."""
    return per_city(batch, venues.categories)


def fallback(inputs: FallbackInputs) -> list[FallbackRow]:
    """Per city and category, its active venues by popularity and rating; the same over every
    city for a user whose city is not known."""
    return city_fallbacks(inputs, SURFACE.name, venues.categories)


SURFACE = Surface(
    name="category",
    description="A food category page: that category's venues for the user, best first.",
    ids="venue",
    context=Context("category", "the food category id", required=True),
    length=DEFAULT_PARAMS.category_k,
    storage="per_user",
    ranking=(
        "the discovery scores, one list per category with >= "
        f"{DEFAULT_PARAMS.min_category_venues} venues that deliver to the user (a user whose"
        " area has fewer venues of a category has no list for it: the fallback serves)"
    ),
    rank=rank,
    fallback=fallback,
)
