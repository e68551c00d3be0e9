"""`category`: per food category, the user's venues of that category, best first."""

from __future__ import annotations

from domain.recs import discovery as venues
from domain.recs.discovery import DEFAULT_PARAMS
from domain.recs.flat import FlatLists
from domain.recs.surfaces.base import (
    EVERY_CITY,
    Batch,
    Context,
    FallbackInputs,
    FallbackRow,
    Surface,
)


def rank(batch: Batch) -> FlatLists:
    """The discovery scores of the user's city, one list per category with enough venues."""
    found = [
        venues.categories(batch.catalog, batch.city_scores(city, users), batch.params)
        for city, users in batch.cities()
    ]
    return FlatLists.concat(found)


def fallback(inputs: FallbackInputs) -> list[FallbackRow]:
    """Per city and category, its active venues by popularity and rating; the same over every
    city for a user whose city is not known."""
    catalog, model, params = inputs.catalog, inputs.bundle.venues, inputs.params
    scored = [(c, venues.city_scores(catalog, model, c, params)) for c in sorted(catalog.cities)]
    scored.append((EVERY_CITY, venues.every_city_scores(catalog, model, params)))
    return [
        FallbackRow(city, SURFACE.name, context, ids, scores)
        for city, scores_of_city in scored
        for _, context, ids, scores in venues.categories(catalog, scores_of_city, params).each()
    ]


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
