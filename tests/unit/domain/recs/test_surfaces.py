"""The surface registry: one description per surface, read by every layer."""

from __future__ import annotations

import pytest

from domain.recs.surfaces import BY_NAME, STORED, STORED_NAMES, SURFACES, get, ranked
from domain.recs.surfaces.base import NO_CONTEXT, Surface
from programs.http.app import LISTED, create_app
from store.db import Database


def test_names_are_unique_and_stored_surfaces_have_rankers() -> None:
    assert len(BY_NAME) == len(SURFACES)
    assert all(s.rank is not None for s in STORED)
    assert STORED_NAMES == (
        "discovery",
        "category",
        "items",
        "brands",
        "food_categories",
        "banners",
    )
    with pytest.raises(
        KeyError, match="known: discovery, category, items, cart, brands, food_categories, banners"
    ):
        get("nope")


def test_only_the_personal_surfaces_read_personal_inputs() -> None:
    # Given the four list surfaces (what a LARDER_REFRESH_SURFACES subset may name)
    lists = ranked(frozenset({"discovery", "category", "items"}))
    # When a refresh asks which of its surfaces read banners, day-parts and tags
    # Then none of the list surfaces does (their jobs skip loading them), all seven include some
    assert [s.name for s in lists] == ["discovery", "category", "items"]
    assert not any(s.personal for s in lists)
    assert [s.name for s in ranked() if s.personal] == ["food_categories", "banners"]


def test_a_per_user_surface_without_a_ranker_is_refused() -> None:
    with pytest.raises(ValueError, match="per_user surface has a ranker"):
        Surface("x", "x", "venue", NO_CONTEXT, 10, "per_user", "x", lambda _: [])


def test_serving_and_openapi_read_the_registry() -> None:
    # Given the read API
    spec = create_app(Database("postgresql://nobody@127.0.0.1:1/none")).openapi()
    # When its surface parameter is described
    operation = spec["paths"]["/v1/users/{user_id}/recommendations/{surface}"]["get"]
    surface = next(p for p in operation["parameters"] if p["name"] == "surface")
    # Then it enumerates the stored surfaces of the registry, and serving knows exactly those
    assert surface["schema"]["enum"] == list(STORED_NAMES) == list(LISTED)
