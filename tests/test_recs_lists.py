"""Precomputed lists: built for every surface (pure), stored in bulk, read in one lookup."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from actors.recs import refresh_fallbacks, refresh_lists
from domain.recs.bundle import train
from domain.recs.discovery import DiscoveryParams, UserRow, diversify
from domain.recs.items import Basket, recommend
from domain.recs.lists import (
    ITEMS_VENUES,
    NO_INPUTS,
    ListRow,
    UserLists,
    fallback_lists,
    relevant_venues,
    user_lists,
)
from programs.cli import main
from schemas import InvalidMessage
from store import recs
from tests.recs_world import small_world
from tests.test_model_registry import load_history

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


@pytest.fixture
def trained(db: Any, tmp_path: Path) -> Any:
    load_history(db, tmp_path)
    assert CliRunner().invoke(main, ["recs", "train"]).exit_code == 0
    return db


def read(db: Any, user: int, venue: int) -> Any:
    with db.unit_of_work(single_statement=True) as uow:
        return recs.read(uow.connection, user, "items", venue)


def test_refresh_then_read_returns_the_personal_list(trained: Any) -> None:
    # Given a trained model and users 1..20 with history at venue 1
    # When user 3's lists are refreshed
    refresh_lists.fn({"schema_version": 1, "user_ids": [3]})
    # Then the read is one personal list led by the user's repeat item
    found = read(trained, 3, 1)
    assert found is not None and not found.fallback
    assert set(found.ids[:2]) == {3 % 4 + 1, 20 + 3 % 3}  # bought every week
    assert found.model_version.startswith("recs-")


def test_cold_user_reads_the_venue_fallback_flagged(trained: Any) -> None:
    # Given fallbacks stored, and a user with no list
    assert refresh_fallbacks() > 0
    # When read / Then it is the venue's popular list, flagged as fallback
    found = read(trained, 999, 1)
    assert found is not None and found.fallback and len(found.ids) == 11
    # And with no fallback for an unknown venue there is nothing to read
    assert read(trained, 999, 42) is None


def test_a_list_from_older_inputs_never_overwrites_a_newer_one(trained: Any) -> None:
    refresh_lists.fn({"schema_version": 1, "user_ids": [5]})
    newest = read(trained, 5, 1)
    # When a late recompute from older inputs arrives
    stale = ListRow(5, "items", 1, [99], [1.0], datetime(2020, 1, 1, tzinfo=UTC))
    with trained.unit_of_work() as uow:
        recs.write_lists(uow.connection, UserLists.of_rows([stale]), "old")
    # Then the stored list is unchanged
    assert read(trained, 5, 1) == newest


def test_lists_a_user_no_longer_has_are_removed(trained: Any) -> None:
    # Given a stored list for a venue the user's new computation does not produce
    gone = ListRow(6, "items", 77, [1], [1.0], datetime(2020, 1, 1, tzinfo=UTC))
    with trained.unit_of_work() as uow:
        recs.write_lists(uow.connection, UserLists.of_rows([gone]), "old")
    # When the user is refreshed / Then that list is gone, the others are there
    refresh_lists.fn({"schema_version": 1, "user_ids": [6]})
    assert read(trained, 6, 77) is None
    assert read(trained, 6, 1) is not None


def test_a_surface_a_user_no_longer_has_is_removed(trained: Any) -> None:
    # Given a stored discovery list for user 6, who has no known home (so no discovery list)
    gone = ListRow(6, "discovery", 0, [1, 2], [1.0, 0.5], datetime(2020, 1, 1, tzinfo=UTC))
    with trained.unit_of_work() as uow:
        recs.write_lists(uow.connection, UserLists.of_rows([gone]), "old")
    # When the user is refreshed / Then that list is gone, the items lists are there
    refresh_lists.fn({"schema_version": 1, "user_ids": [6]})
    with trained.unit_of_work(single_statement=True) as uow:
        assert recs.read(uow.connection, 6, "discovery") is None
    assert read(trained, 6, 1) is not None


def test_invalid_refresh_job_is_rejected_not_retried(trained: Any) -> None:
    with pytest.raises(InvalidMessage, match="user_ids"):
        refresh_lists.fn({"schema_version": 1, "user_ids": []})


def test_cli_refresh_is_a_tracked_run_and_recs_reads_it(
    trained: Any, broker: Any, worker: Any
) -> None:
    # When every user's lists are refreshed as a run of chunked jobs, waiting for it
    result = CliRunner().invoke(main, ["recs", "refresh", "--all", "--chunk", "7"])
    # Then the run finished with every chunk done and none failed
    assert result.exit_code == 0, result.output
    assert "20 users" in result.output and "3/3 chunks done, 0 failed" in result.output
    # And `larder recs` reads a personal list as JSON
    out = CliRunner().invoke(main, ["recs", "show", "7", "--surface", "items", "--context", "1", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["fallback"] is False
    # And the run's status can be asked for again later
    again = CliRunner().invoke(main, ["recs", "refresh", "--status", "1"])
    assert again.exit_code == 0 and "3/3 chunks done" in again.output


def test_cli_refresh_needs_exactly_one_scope(trained: Any) -> None:
    result = CliRunner().invoke(main, ["recs", "refresh", "--all", "3"])
    assert result.exit_code == 2 and "exactly one" in result.output


def test_activity_is_read_summed_per_venue_with_its_decay(db: Any) -> None:
    # Given user 7's clicks at venue 1 (1, 10 and 40 days ago: the last is outside the window),
    # an add-to-cart at venue 2, an impression (not intent) and another user's click
    events = [
        ("a", 7, "click", 1, "1 day"),
        ("b", 7, "click", 1, "10 days"),
        ("c", 7, "click", 1, "40 days"),
        ("d", 7, "add_to_cart", 2, "3 days"),
        ("e", 7, "impression", 1, "1 hour"),
        ("f", 8, "click", 1, "1 day"),
    ]
    with db.unit_of_work() as uow:
        for event_id, user, kind, venue, age in events:
            uow.connection.execute(
                "INSERT INTO activity_events (event_id, user_id, kind, surface, venue_id,"
                " occurred_at) VALUES (%s, %s, %s, 'venue', %s, now() - %s::interval)",
                (event_id, user, kind, venue, age),
            )
        now = uow.connection.execute("SELECT now()").fetchone()[0]
    # When the refresh reads user 7's activity
    with db.unit_of_work() as uow:
        found = {a.venue_id: a for a in recs.activity(uow.connection, [7])}
    # Then each venue is one row: its newest intent event, and the events weighed by what
    # a 60-day half-life leaves of them at that newest one
    assert sorted(found) == [1, 2]
    assert found[1].at == now - timedelta(days=1) and found[2].at == now - timedelta(days=3)
    assert found[1].weight == pytest.approx(1.0 + 0.5 ** (9 / 60))
    assert found[2].weight == pytest.approx(1.0)
