"""The synthetic world generator: valid events, deterministic, and realistically structured.

Every property is recomputed from the emitted events alone (what a consumer sees)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schemas import parse_event
from synthetic.world import WorldConfig, generate

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday, far from a DST change


def ending(days: int = 30, **sizes: Any) -> WorldConfig:
    """A world whose history starts at START (a fixed end: the same events run after run)."""
    return WorldConfig(days=days, end=START + timedelta(days=days), **sizes)


DEFAULT = ending()
SMALL = ending(cities=2, venues=30, items_per_venue=8, users=150, days=7)
CATALOG_TYPES = (
    "city.upserted",
    "brand.upserted",
    "category.upserted",
    "venue.upserted",
    "item.upserted",
    "banner.upserted",
)


@dataclass
class World:
    events: list[dict[str, Any]]
    by_type: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for event in self.events:
            self.by_type.setdefault(event["type"], []).append(event)
        self.cities = {e["city_id"]: e for e in self.of("city.upserted")}
        self.venues = {e["venue_id"]: e for e in self.of("venue.upserted")}
        self.items = {e["item_id"]: e for e in self.of("item.upserted")}
        self.users = {e["user_id"]: e for e in self.of("user.upserted")}
        self.orders = self.of("order.completed")

    def of(self, kind: str) -> list[dict[str, Any]]:
        return self.by_type.get(kind, [])


@pytest.fixture(scope="module")
def world() -> World:
    return World(list(generate(DEFAULT)))


def when(stamp: str) -> datetime:
    assert stamp.endswith("Z")
    return datetime.fromisoformat(stamp)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000.0 * math.asin(math.sqrt(a))


def minutes(hhmm: str) -> int:
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


def open_at(hours: list[dict[str, Any]], local: datetime) -> bool:
    """The contract: windows are local times; `closes` <= `opens` runs past midnight."""
    weekday, minute = local.weekday(), local.hour * 60 + local.minute
    for window in hours:
        opens, closes = minutes(window["opens"]), minutes(window["closes"])
        overnight = closes <= opens
        if window["weekday"] == weekday and opens <= minute and (overnight or minute < closes):
            return True
        if overnight and window["weekday"] == (weekday - 1) % 7 and minute < closes:
            return True
    return False


# --- the contract -------------------------------------------------------------------------


def test_every_generated_event_is_a_valid_intake_event(world: World) -> None:
    # Given the default world / When each event is validated / Then none is rejected
    parsed = [parse_event(event) for event in world.events]
    assert len(parsed) == len(world.events)
    assert {p.type for p in parsed} == {
        *CATALOG_TYPES,
        "user.upserted",
        "order.completed",
        "activity",
    }


def test_event_ids_are_unique_and_upserts_are_version_1(world: World) -> None:
    ids = [e["event_id"] for e in world.events]
    assert len(ids) == len(set(ids))
    assert all(e["version"] == 1 for e in world.events if e["type"].endswith(".upserted"))
    order_ids = [o["order_id"] for o in world.orders]
    assert len(order_ids) == len(set(order_ids))
    assert all(o.startswith("S-") for o in order_ids)


def test_timestamps_are_utc_iso_with_z(world: World) -> None:
    stamps = [o["placed_at"] for o in world.orders] + [
        a["occurred_at"] for a in world.of("activity")
    ]
    assert all(s.endswith("Z") and len(s) == 20 for s in stamps)


# --- determinism --------------------------------------------------------------------------


def test_same_config_gives_identical_events() -> None:
    # Given one config / When generated twice / Then the streams are equal
    assert list(generate(SMALL)) == list(generate(SMALL))


TIMESTAMPS = ("placed_at", "occurred_at", "starts_at", "ends_at")


def _shifted(event: dict[str, Any], by: timedelta) -> dict[str, Any]:
    moved = {k: iso(when(event[k]) + by) for k in TIMESTAMPS if k in event}
    return {**event, **moved}


def iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_same_seed_and_end_give_identical_events() -> None:
    # Given two configs equal in everything, end included
    again = WorldConfig(cities=2, venues=30, items_per_venue=8, users=150, days=7, end=SMALL.end)
    # When generated / Then the streams are equal
    assert list(generate(again)) == list(generate(SMALL))


def test_a_later_end_shifts_every_timestamp_and_keeps_every_id() -> None:
    # Given the same world ending four weeks later (same weekdays, no DST change in between)
    later = replace(SMALL, end=SMALL.end + timedelta(weeks=4))
    # When both are generated
    before, after = list(generate(SMALL)), list(generate(later))
    # Then the events are the same, ids and all, each timestamp four weeks later
    assert after != before
    assert after == [_shifted(e, timedelta(weeks=4)) for e in before]


def test_history_runs_up_to_an_end_within_a_day() -> None:
    # Given a world ending at 19:07 (as `larder simulate world` ends one now, to the minute)
    end = datetime(2026, 2, 4, 19, 7, tzinfo=UTC)
    config = WorldConfig(cities=2, venues=30, items_per_venue=8, users=150, days=7, end=end)
    # When generated
    events = list(generate(config))
    stamps = [when(e["placed_at"]) for e in events if e["type"] == "order.completed"]
    stamps += [when(e["occurred_at"]) for e in events if e["type"] == "activity"]
    # Then everything happened in the 7 days before the end, including its last day
    assert config.start <= min(stamps) and max(stamps) < end
    assert max(stamps) > end - timedelta(hours=12)
    # And banner flights are placed around the history window: each starts before the end
    banners = [e for e in events if e["type"] == "banner.upserted"]
    assert all(config.start - timedelta(days=7) <= when(b["starts_at"]) < end for b in banners)


def test_a_naive_end_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        WorldConfig(end=datetime(2026, 2, 4))


def test_a_different_seed_gives_a_different_world() -> None:
    other = ending(cities=2, venues=30, items_per_venue=8, users=150, days=7, seed=8)
    assert list(generate(SMALL)) != list(generate(other))


# --- shape of the catalog -----------------------------------------------------------------


def test_counts_match_the_config(world: World) -> None:
    assert len(world.cities) == DEFAULT.cities
    assert len(world.venues) == DEFAULT.venues
    assert len(world.users) == DEFAULT.users
    average_items = len(world.items) / len(world.venues)
    assert 0.7 * DEFAULT.items_per_venue <= average_items <= 1.3 * DEFAULT.items_per_venue


def test_more_cities_than_the_fixed_list_cycle_with_distinct_names() -> None:
    config = ending(cities=14, venues=40, items_per_venue=3, users=50, days=2)
    cities = [e for e in generate(config) if e["type"] == "city.upserted"]
    assert len(cities) == 14
    assert len({c["name"] for c in cities}) == 14


def test_venues_cluster_around_their_city_and_deliver_2_to_8_km(world: World) -> None:
    for venue in world.venues.values():
        city = world.cities[venue["city_id"]]
        assert haversine_m(city["lat"], city["lon"], venue["lat"], venue["lon"]) < 25_000
        assert 2000 <= venue["delivery_radius_m"] <= 8000
        assert 1 <= venue["price_level"] <= 4
        assert 3.0 <= venue["rating"] <= 5.0
    active = sum(v["active"] for v in world.venues.values())
    assert active >= 0.85 * len(world.venues)


def test_venue_categories_are_cuisine_categories(world: World) -> None:
    categories = {e["category_id"]: e for e in world.of("category.upserted")}
    for venue in world.venues.values():
        assert [categories[c]["slug"] for c in venue["category_ids"]] == venue["cuisines"]


def test_chains_span_several_cities_and_share_a_cuisine(world: World) -> None:
    cities: dict[int, set[int]] = defaultdict(set)
    cuisines: dict[int, set[str]] = defaultdict(set)
    for venue in world.venues.values():
        if venue["brand_id"] is not None:
            cities[venue["brand_id"]].add(venue["city_id"])
            cuisines[venue["brand_id"]].update(venue["cuisines"])
    brands = {e["brand_id"] for e in world.of("brand.upserted")}
    assert set(cities) == brands
    assert all(len(c) > 1 for c in cities.values())
    assert all(len(c) == 1 for c in cuisines.values())
    independent = sum(v["brand_id"] is None for v in world.venues.values())
    assert independent > len(world.venues) / 2


def test_opening_hours_vary_and_some_venues_run_past_midnight(world: World) -> None:
    windows = [w for v in world.venues.values() for w in v["opening_hours"]]
    assert any(minutes(w["closes"]) <= minutes(w["opens"]) for w in windows)
    closed_a_day = [
        v for v in world.venues.values() if len({w["weekday"] for w in v["opening_hours"]}) < 7
    ]
    assert closed_a_day


def test_items_belong_to_venues_with_sane_prices(world: World) -> None:
    assert all(item["venue_id"] in world.venues for item in world.items.values())
    assert all(250 <= item["price"] <= 3500 for item in world.items.values())
    available = sum(item["available"] for item in world.items.values())
    assert available >= 0.85 * len(world.items)


def test_banners_have_ordered_flights_and_real_targets(world: World) -> None:
    banners = world.of("banner.upserted")
    brands = {e["brand_id"] for e in world.of("brand.upserted")}
    categories = {e["category_id"] for e in world.of("category.upserted")}
    assert banners
    for banner in banners:
        assert when(banner["starts_at"]) < when(banner["ends_at"])
        assert set(banner["city_ids"]) <= set(world.cities)
        assert set(banner["brand_ids"]) <= brands
        assert set(banner["category_ids"]) <= categories
        assert set(banner["venue_ids"]) <= set(world.venues)
    assert any(b["segments"] for b in banners)


def test_users_live_near_their_city_with_a_segment(world: World) -> None:
    for user in world.users.values():
        city = world.cities[user["city_id"]]
        assert haversine_m(city["lat"], city["lon"], user["home_lat"], user["home_lon"]) < 30_000
    segments = Counter(u["segment"] for u in world.users.values())
    assert set(segments) == {"new", "regular", "vip", "student"}


# --- orders -------------------------------------------------------------------------------


def test_every_order_venue_delivers_to_the_users_home(world: World) -> None:
    assert world.orders
    for order in world.orders:
        user, venue = world.users[order["user_id"]], world.venues[order["venue_id"]]
        distance = haversine_m(user["home_lat"], user["home_lon"], venue["lat"], venue["lon"])
        assert distance <= venue["delivery_radius_m"]
        assert venue["active"]
        assert order["city_id"] == user["city_id"] == venue["city_id"]


def test_order_lines_are_available_items_of_the_orders_venue(world: World) -> None:
    for order in world.orders:
        lines = order["lines"]
        assert 1 <= len(lines) <= 6
        assert [line["line_no"] for line in lines] == list(range(1, len(lines) + 1))
        for line in lines:
            item = world.items[line["item_id"]]
            assert item["venue_id"] == order["venue_id"]
            assert item["available"]
        total = sum(world.items[line["item_id"]]["price"] * line["quantity"] for line in lines)
        assert order["total"] == total
    quantities = Counter(line["quantity"] for o in world.orders for line in o["lines"])
    assert quantities[1] > 0.7 * sum(quantities.values())


def test_orders_are_placed_within_opening_hours_in_city_time(world: World) -> None:
    zones = {c: ZoneInfo(city["timezone"]) for c, city in world.cities.items()}
    for order in world.orders:
        venue = world.venues[order["venue_id"]]
        local = when(order["placed_at"]).astimezone(zones[venue["city_id"]])
        assert open_at(venue["opening_hours"], local), (order, venue["opening_hours"])


def test_restaurant_orders_peak_at_lunch_and_dinner(world: World) -> None:
    zones = {c: ZoneInfo(city["timezone"]) for c, city in world.cities.items()}
    hours: Counter[int] = Counter()
    for order in world.orders:
        venue = world.venues[order["venue_id"]]
        if venue["cuisines"][0] not in ("grocery", "bakery"):
            hours[when(order["placed_at"]).astimezone(zones[venue["city_id"]]).hour] += 1
    meal_times = sum(hours[h] for h in (11, 12, 13, 14, 17, 18, 19, 20, 21))
    assert meal_times > 0.75 * sum(hours.values())


def test_orders_fall_within_the_history_window(world: World) -> None:
    end = DEFAULT.start.timestamp() + DEFAULT.days * 86_400
    stamps = [when(o["placed_at"]).timestamp() for o in world.orders]
    assert DEFAULT.start.timestamp() <= min(stamps) and max(stamps) < end


def test_venue_popularity_is_skewed(world: World) -> None:
    # Given orders per venue (zero for venues nobody ordered from)
    per_venue = Counter(o["venue_id"] for o in world.orders)
    counts = sorted((per_venue[v] for v in world.venues), reverse=True)
    # Then the top 10% of venues take well over 10% of the orders
    top = counts[: len(counts) // 10]
    assert sum(top) / sum(counts) > 0.3


def test_order_rates_are_heavy_tailed(world: World) -> None:
    per_user = sorted(Counter(o["user_id"] for o in world.orders).values(), reverse=True)
    top = per_user[: len(per_user) // 10]
    assert sum(top) / sum(per_user) > 0.25


def test_users_reorder_items_they_bought_before(world: World) -> None:
    bought: dict[int, set[int]] = defaultdict(set)
    repeat = later = 0
    for order in world.orders:
        items = [line["item_id"] for line in order["lines"]]
        history = bought[order["user_id"]]
        if history:
            later += len(items)
            repeat += sum(item in history for item in items)
        history.update(items)
    assert later and repeat / later > 0.25


# --- ordering and activity ----------------------------------------------------------------


def test_catalog_then_users_then_history_in_time_order(world: World) -> None:
    rank = {kind: i for i, kind in enumerate((*CATALOG_TYPES, "user.upserted"))}
    phases = [rank.get(e["type"], len(rank)) for e in world.events]
    assert phases == sorted(phases)
    history = [e for e in world.events if e["type"] in ("order.completed", "activity")]
    stamps = [when(e.get("placed_at") or e["occurred_at"]) for e in history]
    assert stamps == sorted(stamps)


def test_activity_targets_exist_and_impressions_have_positions(world: World) -> None:
    banners = {b["banner_id"] for b in world.of("banner.upserted")}
    for event in world.of("activity"):
        assert event["user_id"] in world.users
        assert event.get("venue_id") is None or event["venue_id"] in world.venues
        assert event.get("item_id") is None or event["item_id"] in world.items
        assert event.get("banner_id") is None or event["banner_id"] in banners
        if event["kind"] == "impression":
            assert event["position"] >= 0
    kinds = Counter((e["kind"], e["surface"]) for e in world.of("activity"))
    assert kinds["impression", "discovery"] > kinds["click", "discovery"] > 0
    assert kinds["add_to_cart", "venue"] > 0


def test_each_order_is_preceded_by_its_clicks_and_add_to_carts(world: World) -> None:
    # Given activity per (user, venue) / Then every order line was added to the cart and the
    # venue clicked within half an hour before the order
    carts: dict[tuple[int, int], list[tuple[datetime, int]]] = defaultdict(list)
    clicks: dict[tuple[int, int], list[datetime]] = defaultdict(list)
    for event in world.of("activity"):
        key = (event["user_id"], event.get("venue_id") or 0)
        if event["kind"] == "add_to_cart":
            carts[key].append((when(event["occurred_at"]), event["item_id"]))
        elif event["kind"] == "click" and event["surface"] == "discovery":
            clicks[key].append(when(event["occurred_at"]))
    clicked = 0
    for order in world.orders:
        key, placed = (order["user_id"], order["venue_id"]), when(order["placed_at"])
        recent = {item for at, item in carts[key] if 0 < (placed - at).total_seconds() <= 1800}
        assert {line["item_id"] for line in order["lines"]} <= recent
        clicked += any(0 < (placed - at).total_seconds() <= 1800 for at in clicks[key])
    assert clicked > 0.85 * len(world.orders)


def test_clicks_favour_venues_that_are_then_ordered_from(world: World) -> None:
    ordered = {(o["user_id"], o["venue_id"]) for o in world.orders}
    shown = [e for e in world.of("activity") if e["surface"] == "discovery"]
    rate: dict[bool, list[int]] = {True: [0, 0], False: [0, 0]}
    for event in shown:
        bucket = rate[(event["user_id"], event["venue_id"]) in ordered]
        bucket[event["kind"] == "click"] += 1
    assert rate[True][1] / sum(rate[True]) > 2 * rate[False][1] / sum(rate[False])


# --- edges --------------------------------------------------------------------------------


def test_an_empty_world_is_still_valid() -> None:
    config = ending(cities=1, venues=0, items_per_venue=0, users=5, days=3)
    events = list(generate(config))
    assert all(parse_event(e) for e in events)
    assert not [e for e in events if e["type"] in ("order.completed", "activity")]


@pytest.mark.parametrize("field_name", ["venues", "users", "days", "items_per_venue"])
def test_negative_sizes_are_rejected(field_name: str) -> None:
    with pytest.raises(ValueError, match=field_name):
        ending(**{field_name: -1})
