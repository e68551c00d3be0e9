"""`discovery`: the venues a user may order from, best first (domain/recs/discovery.py)."""

from __future__ import annotations

from domain.recs import discovery as venues
from domain.recs.discovery import DEFAULT_PARAMS
from domain.recs.flat import FlatLists
from domain.recs.surfaces.base import (
    EVERY_CITY,
    NO_CONTEXT,
    Batch,
    FallbackInputs,
    FallbackRow,
    Surface,
)


def rank(batch: Batch) -> FlatLists:
    """Each user's deliverable venues, scored against their city's venues, diversified."""
    found = [
        venues.discovery(batch.catalog, batch.city_scores(city, users), batch.params)
        for city, users in batch.cities()
    ]
    return FlatLists.concat(found)


def fallback(inputs: FallbackInputs) -> list[FallbackRow]:
    """Per city, its active venues by popularity and rating; the same over every city for a
    user whose city is not known."""
    catalog, model, params = inputs.catalog, inputs.bundle.venues, inputs.params
    scored = [(c, venues.city_scores(catalog, model, c, params)) for c in sorted(catalog.cities)]
    scored.append((EVERY_CITY, venues.every_city_scores(catalog, model, params)))
    return [
        FallbackRow(city, SURFACE.name, context, ids, scores)
        for city, scores_of_city in scored
        for _, context, ids, scores in venues.discovery(catalog, scores_of_city, params).each()
    ]


SURFACE = Surface(
    name="discovery",
    description="The venues a user may order from, best first.",
    ids="venue",
    context=NO_CONTEXT,
    length=DEFAULT_PARAMS.k,
    storage="per_user",
    ranking=(
        "only venues that deliver to the user's home (haversine distance <= the venue's radius)"
        " and are active; a blend of personal affinity to the venue, its brand and its cuisine"
        ' (orders weigh 1, venue activity 0.25, halved every 60 days), co-visitation ("people'
        ' who order where you order"), city popularity, rating and closeness, plus an'
        " exploration draw for venues new to the user (reproducible per user, venue and day);"
        " then at most 2 venues of a brand and 3 of a cuisine in any window of 10"
    ),
    rank=rank,
    fallback=fallback,
)
