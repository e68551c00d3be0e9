"""Every ranker is total: an empty catalog, an empty model, a city without venues, users the
catalog or the model know nothing about give cold-start or empty lists, never an exception."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.recs.bundle import Bundle, train
from domain.recs.discovery import UserRow
from domain.recs.items import Basket
from domain.recs.lists import Activity, fallback_lists, user_lists
from domain.recs.venues import VenueCatalog, VenueRow
from tests.support.recs_world import small_world

NOW = datetime(2026, 2, 1, tzinfo=UTC)
EMPTY_CATALOG = VenueCatalog.from_rows([])
EMPTY_MODEL = train([])


def venue(venue_id: int, city: int) -> VenueRow:
    return VenueRow(venue_id, city, None, 60.17, 24.94, 3000, ["pizza"], [3], 4.5, True)


def basket(user: int, venue_id: int, *items: int) -> Basket:
    return Basket(user, venue_id, datetime(2026, 1, 20, tzinfo=UTC), items, f"{user}-{venue_id}")


USERS = [UserRow(1, 1, 60.17, 24.94), UserRow(2, 9, 60.17, 24.94)]  # city 9 has no venues
HISTORIES = {1: [basket(1, 100, 5, 6)], 3: [basket(3, 101, 7)]}  # user 3: no home known
ACTIVITY = [Activity(1, 100, datetime(2026, 1, 21, tzinfo=UTC)), Activity(2, 555, NOW)]


@pytest.mark.parametrize(
    ("model", "catalog"),
    [
        (EMPTY_MODEL, EMPTY_CATALOG),
        (EMPTY_MODEL, VenueCatalog.from_rows([venue(100, 1), venue(101, 1)])),
        (train([basket(7, 100, 5, 6), basket(7, 100, 5)]), EMPTY_CATALOG),
        (train([basket(7, 200, 5, 6), basket(8, 200, 6)]), VenueCatalog.from_rows([venue(100, 1)])),
    ],
    ids=[
        "empty model, empty catalog",
        "empty model",
        "empty catalog",
        "model and catalog disjoint",
    ],
)
def test_lists_and_fallbacks_never_raise(model: Bundle, catalog: VenueCatalog) -> None:
    # When every list and every fallback is built on these
    lists = user_lists(model, catalog, USERS, HISTORIES, ACTIVITY, NOW)
    fallbacks = fallback_lists(model, catalog)
    # Then no exception, and whatever was built is well formed
    for row in lists.rows():
        assert len(row.ids) == len(row.scores)
    for fallback in fallbacks:
        assert len(fallback.ids) == len(fallback.scores)


def test_a_city_without_venues_gives_its_users_no_venue_lists() -> None:
    world = small_world()
    model = train(world.baskets)
    stranger = UserRow(99_999, 12_345, 0.0, 0.0)  # a city the catalog has no venue in
    lists = user_lists(model, world.catalog, [stranger], {}, [], world.now)
    assert [r for r in lists.rows() if r.user_id == stranger.user_id and r.ids] == []


def test_an_empty_world_gives_nothing_to_serve_and_no_error() -> None:
    assert user_lists(EMPTY_MODEL, EMPTY_CATALOG, [], {}, [], NOW).rows() == []
    assert fallback_lists(EMPTY_MODEL, EMPTY_CATALOG) == []


def test_a_venue_the_model_does_not_know_takes_no_scores_from_the_next_venue() -> None:
    # Given a model that knows venues 100 and 101 (not 99), and a user who bought at both
    model = train(
        [basket(7, 100, 5, 6), basket(7, 101, 8, 9), basket(8, 101, 8), basket(8, 100, 5)]
    )
    history = [basket(1, 100, 5), basket(1, 101, 8)]
    # When the user's items lists are ranked at 99 (unknown) then 101, then alone at 101
    from domain.recs.items import recommend_at_venues

    both = recommend_at_venues(model.items, {1: history}, {1: [99, 101]}, 10)
    alone = recommend_at_venues(model.items, {1: history}, {1: [101]}, 10)
    # Then the unknown venue's list is empty and 101's is what it is on its own (its cells used
    # to receive the terms of the model's first venue, meant for the unknown one)
    assert both[(1, 99)] == []
    assert both[(1, 101)] == alone[(1, 101)]
