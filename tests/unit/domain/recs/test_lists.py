"""Precomputed lists, built for every surface (pure)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.recs.bundle import train
from domain.recs.discovery import DiscoveryParams, UserRow, diversify
from domain.recs.items import Basket, recommend
from domain.recs.lists import (
    NO_INPUTS,
    ListRow,
    fallback_lists,
    user_lists,
)
from domain.recs.surfaces.items import ITEMS_VENUES, relevant_venues
from tests.support.recs_world import small_world

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def basket(user: int, venue: int, day: int, *items: int) -> Basket:
    return Basket(user, venue, T0 + timedelta(days=day), items, f"{user}-{day}")


def histories(baskets: list[Basket]) -> dict[int, list[Basket]]:
    out: dict[int, list[Basket]] = {}
    for b in baskets:
        out.setdefault(b.user_id, []).append(b)
    return out


def test_relevant_venues_are_the_users_most_recent_first() -> None:
    history = [basket(1, 5, 0, 1), basket(1, 6, 1, 2), basket(1, 5, 2, 1), basket(1, 7, 3, 3)]
    assert relevant_venues(history, 10) == [7, 5, 6]
    assert relevant_venues(history, 2) == [7, 5]


def world_lists() -> tuple[Any, list[ListRow]]:
    world = small_world()
    bundle = train(world.baskets)
    lists = user_lists(
        bundle, world.catalog, world.users, histories(world.baskets), world.activity, world.now
    )
    return world, lists.rows()


def test_every_user_of_a_seeded_world_gets_discovery_and_items_lists() -> None:
    # Given a generated world and a model trained on its orders
    world, rows = world_lists()
    # When every user's lists are built / Then each user has one discovery list
    surfaces = Counter((r.user_id, r.surface) for r in rows)
    assert all(surfaces[(u.user_id, "discovery")] == 1 for u in world.users)
    # And items lists for the venues they ordered from, then top discovery venues, capped
    by_user = histories(world.baskets)
    for user in world.users:
        items = [r.context for r in rows if r.user_id == user.user_id and r.surface == "items"]
        ordered = relevant_venues(by_user.get(user.user_id, []), ITEMS_VENUES)
        assert set(ordered) <= set(items) and len(items) <= ITEMS_VENUES


def test_discovery_lists_only_deliverable_active_venues_without_repeats() -> None:
    world, rows = world_lists()
    catalog = world.catalog
    homes = {u.user_id: u for u in world.users}
    from domain.geo import distance_m

    for row in (r for r in rows if r.surface == "discovery"):
        at = catalog.positions(row.ids)
        home = homes[row.user_id]
        dist = distance_m(home.home_lat, home.home_lon, catalog.lat[at], catalog.lon[at])[0]
        assert (dist <= catalog.radius_m[at]).all() and catalog.active[at].all()
        assert len(set(row.ids)) == len(row.ids) and catalog.city[at].tolist() == [
            home.city_id
        ] * len(row.ids)


def windows_hold(chosen: list[int], codes: list[int], most: int, none: int) -> bool:
    return all(
        max(Counter(codes[c] for c in chosen[s : s + 10] if codes[c] != none).values(), default=0)
        <= most
        for s in range(len(chosen))
    )


def test_diversity_caps_brands_and_cuisines_in_every_window_of_ten() -> None:
    # Given 60 candidates, best first, where the top 20 are all one brand and one cuisine
    brand = [1] * 20 + [b % 15 + 2 for b in range(40)]
    cuisine = [0] * 20 + [c % 8 + 1 for c in range(40)]
    # When diversified
    chosen = diversify(list(range(60)), brand, cuisine, DiscoveryParams(k=50))
    # Then every window of 10 holds at most 2 of a brand and 3 of a cuisine
    assert windows_hold(chosen[:40], brand, 2, 0) and windows_hold(chosen[:40], cuisine, 3, -1)
    # And the best venue still leads, and nothing is lost or repeated
    assert chosen[0] == 0 and len(set(chosen)) == 50


def test_diversity_gives_way_when_nothing_else_is_left() -> None:
    # Given only venues of one brand / Then they are all listed, in score order
    assert diversify([0, 1, 2, 3], [5] * 4, [1] * 4, DiscoveryParams()) == [0, 1, 2, 3]
    # And independents (brand 0) and unknown cuisines (-1) are never capped
    assert diversify([0, 1, 2, 3], [0] * 4, [-1] * 4, DiscoveryParams()) == [0, 1, 2, 3]


def test_a_users_favourite_venue_leads_their_discovery_list() -> None:
    # Given a user who ordered at one venue many times recently
    world = small_world()
    user = world.users[0]
    venue = next(
        int(v)
        for v in world.catalog.venue_ids[world.catalog.cities[user.city_id]]
        if world.catalog.active[world.catalog.positions([v])[0]]
    )
    baskets = [basket(user.user_id, venue, 25 + d, 1) for d in range(5)]
    bundle = train(world.baskets)
    # When their lists are built / Then that venue ranks first (if it delivers to them)
    rows = user_lists(bundle, world.catalog, [user], histories(baskets), [], world.now).rows()
    discovery = next(r for r in rows if r.surface == "discovery")
    home_delivers = venue in [
        int(v) for v in world.catalog.venue_ids[world.catalog.cities[user.city_id]]
    ]
    assert home_delivers
    if venue in discovery.ids:
        assert discovery.ids[0] == venue


def test_category_lists_hold_only_that_categorys_venues_best_first() -> None:
    world, rows = world_lists()
    categories = [r for r in rows if r.surface == "category"]
    assert categories, "the small world has categories with enough deliverable venues"
    for row in categories:
        at = world.catalog.positions(row.ids)
        assert all(row.context in world.catalog.categories[p] for p in at.tolist())
        assert len(row.ids) >= 5 and row.scores == sorted(row.scores, reverse=True)


def test_items_lists_match_the_single_user_recommender() -> None:
    # Given the shared neighbour search / Then results equal one `recommend` per (user, venue)
    world, rows = world_lists()
    bundle = train(world.baskets)
    by_user = histories(world.baskets)
    for row in [r for r in rows if r.surface == "items"][:40]:
        expected = recommend(bundle.items, by_user.get(row.user_id, []), row.context, 50)
        assert row.ids == [i for i, _ in expected]


def test_lists_are_reproducible_and_record_their_inputs() -> None:
    # Same inputs, same lists (the exploration draw is seeded by user, venue and day)
    _, first = world_lists()
    _, second = world_lists()
    assert first == second
    # And each list records the newest input it saw: the user's last order or activity
    world = small_world()
    newest: dict[int, datetime] = {}
    for user, at in [(b.user_id, b.placed_at) for b in world.baskets] + [
        (a.user_id, a.at) for a in world.activity
    ]:
        newest[user] = max(at, newest.get(user, at))
    assert all(r.inputs_at == newest.get(r.user_id, NO_INPUTS) for r in first)


def test_cold_start_user_gets_popular_deliverable_venues() -> None:
    world = small_world()
    home = world.users[0]
    stranger = UserRow(10**9, home.city_id, home.home_lat, home.home_lon)
    rows = user_lists(train(world.baskets), world.catalog, [stranger], {}, [], world.now).rows()
    assert next(r for r in rows if r.surface == "discovery").ids


def test_fallbacks_cover_every_city_venue_and_complement() -> None:
    world = small_world()
    rows = fallback_lists(train(world.baskets), world.catalog)
    kinds = Counter((r.surface, r.city_id == 0) for r in rows)
    assert kinds[("discovery", False)] == len(world.catalog.cities)
    assert kinds[("items", True)] > 0 and kinds[("cart", True)] > 0


# --- stored and read (real Postgres) ----------------------------------------------------------


def test_every_city_has_discovery_and_category_fallbacks_for_users_of_unknown_cities() -> None:
    world = small_world()
    rows = fallback_lists(train(world.baskets), world.catalog)
    every_city = {(r.surface, r.context) for r in rows if r.city_id == 0}
    assert ("discovery", 0) in every_city
    assert any(surface == "category" for surface, _ in every_city)
    # and its discovery list draws on every city's venues
    discovery = next(r for r in rows if (r.city_id, r.surface) == (0, "discovery"))
    cities = {int(world.catalog.city[world.catalog.positions([v])[0]]) for v in discovery.ids}
    assert len(cities) == len(world.catalog.cities)
