"""`discovery`: the venues a user may order from, best first (domain/recs/discovery.py)."""

from __future__ import annotations

from domain.recs import discovery as venues
from domain.recs.discovery import DEFAULT_PARAMS
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


def rank(batch: Batch) -> FlatLists:
    """Each user's deliverable venues, scored against their city's venues, diversified."""
    return per_city(batch, venues.discovery)


def fallback(inputs: FallbackInputs) -> list[FallbackRow]:
    """Per city, its active venues by popularity and rating; the same over every city for a
    user whose city is not known."""
    return city_fallbacks(inputs, SURFACE.name, venues.discovery)


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
