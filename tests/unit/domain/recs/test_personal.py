"""Brands, food categories and banners at the edges (pure): flights to the second, city
borders, a brand whose only venue closed, day-parts in a city off UTC, pins vs exclusions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from domain.opening import compile_hours
from domain.recs import personal
from domain.recs.banners import (
    BannerRow,
    BannerSettings,
    StatRow,
    examination,
    lifecycle_segment,
    posteriors,
    serve,
)
from domain.recs.discovery import CityScores, UserRow, Visits, score_city
from domain.recs.items import Basket
from domain.recs.personal import (
    Served,
    apply_overrides,
    daypart_at,
    daypart_mask,
    eligibility,
    rank_brands,
    rank_categories,
)
from domain.recs.surfaces.banners import segment_of
from domain.recs.venues import VenueCatalog, VenueRow, train_venues

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
LAT, LON = 52.52, 13.40
M_PER_DEG_LAT = 111_195.0  # haversine, R = 6,371 km


def venue(
    venue_id: int, brand: int | None, north_m: float, radius: int = 1000, active: bool = True
) -> VenueRow:
    """A venue `north_m` metres north of the city centre, category 100 + its brand."""
    category = 100 + (brand or 0)
    return VenueRow(
        venue_id,
        1,
        brand,
        LAT + north_m / M_PER_DEG_LAT,
        LON,
        radius,
        ["x"],
        [category],
        4.5,
        active,
    )


def scored(rows: list[VenueRow], *users: UserRow) -> tuple[VenueCatalog, CityScores]:
    catalog = VenueCatalog.from_rows(rows)
    none = np.zeros(0)
    visits = Visits(none.astype(np.int64), none.astype(np.int64), none, none)
    return catalog, score_city(catalog, train_venues([]), list(users), visits, NOW)


def home(user_id: int, north_m: float = 0.0) -> UserRow:
    return UserRow(user_id, 1, LAT + north_m / M_PER_DEG_LAT, LON)


def banner(banner_id: int, **fields: object) -> BannerRow:
    values: dict[str, object] = {
        "banner_id": banner_id,
        "city_ids": (1,),
        "category_ids": (),
        "brand_ids": (),
        "venue_ids": (),
        "segments": (),
        "starts_at": NOW - timedelta(days=1),
        "ends_at": NOW + timedelta(days=1),
        "active": True,
    }
    values.update(fields)
    return BannerRow(**values)  # type: ignore[arg-type]


# --- flights ------------------------------------------------------------------------------------


def test_a_banner_is_live_from_its_start_to_the_second_before_its_end() -> None:
    b = banner(1, starts_at=NOW, ends_at=NOW + timedelta(hours=1))
    assert not b.live_at(NOW - timedelta(seconds=1))
    assert b.live_at(NOW)
    assert b.live_at(NOW + timedelta(hours=1) - timedelta(seconds=1))
    assert not b.live_at(NOW + timedelta(hours=1))
    assert not b._replace(active=False).live_at(NOW)


# --- city borders and closed venues ---------------------------------------------------------------


def test_a_user_just_outside_every_venue_of_a_brand_gets_neither_the_brand_nor_its_banner() -> None:
    # Given brand 7's two venues delivering 1,000 m, 1,000 m and 1,500 m south of a user...
    rows = [venue(1, 7, 0.0), venue(2, 7, 500.0), venue(3, 8, 0.0, radius=5000)]
    outside, inside = home(10, 1000.0 + 500.0 + 2.0), home(11, 1000.0 + 500.0 - 2.0)
    catalog, scores = scored(rows, outside, inside)
    # When brands are ranked / Then only the user 2 m inside the radius has brand 7
    lists = {u: ids for u, _, ids, _ in rank_brands(catalog, scores, 30).each()}
    assert lists[10] == [8] and sorted(lists[11]) == [7, 8]
    # And a banner for brand 7 is eligible for the user inside only
    live, eligible, _ = eligibility(catalog, scores, [banner(1, brand_ids=(7,))], 1, NOW)
    assert [b.banner_id for b in live] == [1]
    assert eligible[:, 0].tolist() == [False, True]


def test_a_brand_whose_only_venue_closed_is_gone_and_so_is_its_banner() -> None:
    rows = [venue(1, 7, 0.0, active=False), venue(2, 8, 0.0)]
    catalog, scores = scored(rows, home(10))
    assert [ids for _, _, ids, _ in rank_brands(catalog, scores, 30).each()] == [[8]]
    _, eligible, _ = eligibility(
        catalog, scores, [banner(1, brand_ids=(7,)), banner(2, venue_ids=(2,))], 1, NOW
    )
    assert eligible.tolist() == [[False, True]]


def test_segment_and_city_targeting() -> None:
    b = banner(1, segments=("lapsed", "vip"), city_ids=(2,))
    assert not b.targets_city(1) and b.targets_city(2)
    assert b.targets_segment("lapsed", None) and b.targets_segment("new", "vip")
    assert not b.targets_segment("returning", "student")
    last = NOW - timedelta(days=60)
    assert lifecycle_segment(None, NOW) == "new"
    assert lifecycle_segment(last, NOW) == "returning"
    assert lifecycle_segment(last - timedelta(seconds=1), NOW) == "lapsed"


def test_a_users_segment_is_read_from_the_orders_before_now() -> None:
    # Given a user whose orders are 61 days old, plus one placed after `now` (a recompute of
    # older inputs), and a user with only that later order
    old, later = NOW - timedelta(days=61), NOW + timedelta(minutes=1)
    history = [Basket(1, 5, old, (1,)), Basket(1, 5, later, (2,))]
    # When their segments are read at `now`
    # Then the later order is ignored: lapsed, and new
    assert segment_of(history, NOW) == "lapsed"
    assert segment_of(history[1:], NOW) == "new"
    assert segment_of(history[:1], old + timedelta(days=1)) == "returning"


# --- day-parts ------------------------------------------------------------------------------------


def test_day_part_boundaries_are_in_the_citys_time_zone() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")  # UTC+9: 01:59:59Z is 10:59:59 there
    assert daypart_at(datetime(2026, 3, 2, 1, 59, 59, tzinfo=UTC).astimezone(tokyo)) == 1
    assert daypart_at(datetime(2026, 3, 2, 2, 0, 0, tzinfo=UTC).astimezone(tokyo)) == 2
    new_york = ZoneInfo("America/New_York")  # 03:00Z is 22:00 of the day before there
    assert daypart_at(datetime(2026, 3, 2, 2, 59, 59, tzinfo=UTC).astimezone(new_york)) == 4
    assert daypart_at(datetime(2026, 3, 2, 3, 0, 0, tzinfo=UTC).astimezone(new_york)) == 5
    assert daypart_at(datetime(2026, 3, 2, 3, 0, 0, tzinfo=UTC)) == 5  # 03:00 UTC: late


def test_breakfast_is_not_offered_by_venues_that_open_for_dinner() -> None:
    dinner_only = compile_hours(
        {"weekday": d, "opens": "17:00", "closes": "23:30"} for d in range(7)
    )
    assert daypart_mask(dinner_only) == 0b01000  # dinner only (22-06 late: 02:00 is closed)
    # Given three venues of category 107 open at dinner only and three of 108 all day
    rows = [venue(v, 7, 0.0) for v in (1, 2, 3)] + [venue(v, 8, 0.0) for v in (4, 5, 6)]
    catalog, scores = scored(rows, home(10))
    parts = {v: daypart_mask(dinner_only) for v in (1, 2, 3)}
    lists = {c: ids for _, c, ids, _ in rank_categories(catalog, scores, parts, 20).each()}
    # Then breakfast lists only the all-day category, dinner both
    assert lists[1] == [108] and sorted(lists[4]) == [107, 108]
    # And with two of them closed for good, 107 lacks supply at dinner (fewer than 3)
    rows[0], rows[1] = rows[0]._replace(active=False), rows[1]._replace(active=False)
    catalog, scores = scored(rows, home(10))
    lists = {c: ids for _, c, ids, _ in rank_categories(catalog, scores, parts, 20).each()}
    assert lists[4] == [108]


def test_a_day_part_with_nothing_open_is_an_empty_list_not_a_missing_one() -> None:
    # Given three venues of one category, open at dinner only
    dinner_only = compile_hours(
        {"weekday": d, "opens": "17:00", "closes": "23:30"} for d in range(7)
    )
    catalog, scores = scored([venue(v, 7, 0.0) for v in (1, 2, 3)], home(10))
    parts = {v: daypart_mask(dinner_only) for v in (1, 2, 3)}
    # When the user's categories are ranked
    lists = {c: ids for _, c, ids, _ in rank_categories(catalog, scores, parts, 20).each()}
    # Then every day-part has a list: dinner's category, and "nothing now" at the others
    assert lists == {1: [], 2: [], 3: [], 4: [107], 5: []}


# --- overrides ------------------------------------------------------------------------------------


def test_a_pin_moves_its_banner_to_the_slot_with_propensity_one() -> None:
    served = Served([1, 2, 3], [0.3, 0.2, 0.1], [0.5, 0.4, 0.3])
    assert apply_overrides(served, [(3, 1)]) == Served([3, 1, 2], [0.1, 0.3, 0.2], [1.0, 0.5, 0.4])
    assert apply_overrides(served, [(9, 9)]).ids == [1, 2, 3, 9]


def test_a_user_exclusion_wins_over_a_pin_in_the_users_city() -> None:
    served = Served([1, 2, 3], [0.3, 0.2, 0.1], [0.5, 0.4, 0.3])
    found = apply_overrides(served, [(3, 1), (2, 2)], excluded=frozenset({3}))
    assert found == Served([1, 2], [0.3, 0.2], [0.5, 1.0])  # 3 never shown; 2 pinned


# --- the sampler ------------------------------------------------------------------------------------


def test_position_correction_counts_a_lower_slot_impression_for_less() -> None:
    # slot 1 is looked at half as often: its CTR is half of slot 0's
    stats = [StatRow(1, 1, "new", 0, 100_000, 4_000), StatRow(2, 1, "new", 1, 100_000, 2_000)]
    factors = examination(stats)
    assert factors[1] == pytest.approx(0.5, rel=0.02)
    model = posteriors([banner(1), banner(2)], stats)
    a1, b1 = model.beta(banner(1), 1, "new")
    a2, b2 = model.beta(banner(2), 1, "new")
    # So both banners are estimated equally good
    assert a1 / (a1 + b1) == pytest.approx(a2 / (a2 + b2), rel=0.05)


def test_a_new_banner_borrows_its_kinds_click_through_and_a_cell_its_banners() -> None:
    stats = [StatRow(1, 1, "returning", 0, 10_000, 500)]  # 5 % in the city's returning users
    model = posteriors([banner(1), banner(2)], stats, BannerSettings(prior_strength=20))
    a, b = model.beta(banner(2), 1, "new")  # a new city-wide banner: its kind's ~5 %
    assert a + b == pytest.approx(20.0) and a / (a + b) == pytest.approx(0.05, abs=0.002)
    a, b = model.beta(banner(1), 1, "new")  # banner 1 for new users: banner 1 in the city
    assert a / (a + b) == pytest.approx(0.05, abs=0.002)


def test_thompson_sampling_sinks_a_banner_nobody_clicks_and_still_explores() -> None:
    rng = np.random.default_rng(7)
    alpha = np.array([50.0, 1.0, 2.0])  # 50/1000 clicked, 1/1000 clicked, new (prior 10 %)
    beta = np.array([950.0, 999.0, 18.0])
    users = 2000
    got = serve(
        alpha,
        beta,
        np.ones((users, 3), bool),
        np.zeros((users, 3)),
        rng,
        BannerSettings(random_share=0.05, draws=64),
    )
    top = np.bincount(got.order[:, 0], minlength=3) / users
    assert top[1] < 0.05  # the one nobody clicks: only the random share puts it first
    assert top[2] > 0.2  # the new one gets a fair share of first slots
    # and every logged propensity is at least the random share's 5 % / 3 banners
    assert got.propensity.min() >= 0.05 / 3 - 1e-12


def test_propensities_are_exact_for_the_random_share_and_match_frequencies() -> None:
    rng = np.random.default_rng(3)
    alpha, beta = np.array([5.0, 5.0, 5.0, 5.0]), np.array([95.0, 95.0, 95.0, 95.0])
    eligible = np.ones((500, 4), bool)
    eligible[:, 3] = False
    random = serve(alpha, beta, eligible, np.zeros((500, 4)), rng, BannerSettings(random_share=1))
    assert np.allclose(random.propensity[:, :3], 1 / 3) and (random.order[:, 3] == -1).all()
    # The Thompson part: a banner's propensity at slot 0 is the share of draws putting it there
    alpha = np.array([30.0, 10.0])
    beta = np.array([70.0, 90.0])
    settings = BannerSettings(random_share=0.0, draws=400)
    got = serve(alpha, beta, np.ones((4000, 2), bool), np.zeros((4000, 2)), rng, settings)
    first = got.order[:, 0] == 0
    # served frequencies agree with the logged propensities (within sampling noise)
    assert first.mean() == pytest.approx(got.propensity[first, 0].mean(), abs=0.03)


def test_affinity_to_the_target_lifts_a_banner_for_that_user() -> None:
    rng = np.random.default_rng(5)
    alpha, beta = np.array([20.0, 20.0]), np.array([380.0, 380.0])
    affinity = np.array([[1.0, 0.0]] * 1000)
    got = serve(alpha, beta, np.ones((1000, 2), bool), affinity, rng, BannerSettings(draws=16))
    assert (got.order[:, 0] == 0).mean() > 0.8


@pytest.mark.parametrize("tied", [False, True])  # True: no shared order, rows sorted here
def test_spread_is_the_best_and_median_deliverable_score(tied: bool) -> None:
    # Given users' scores with venues that do not deliver (-inf), one user reaching none
    rng = np.random.default_rng(4)
    scores = np.round(rng.random((40, 30)), 1 if tied else 12)
    scores[rng.random(scores.shape) < 0.4] = -np.inf
    scores[0] = -np.inf
    scored = CityScores(list(range(40)), np.arange(30), scores, np.zeros(scores.shape, bool))
    assert (scored.order is None) == tied
    # When spread / Then each user's best and median deliverable scores (0 and 0 for none)
    best, middle = personal._spread(scored)
    for row, best_of, middle_of in zip(scores, best, middle, strict=True):
        finite = row[np.isfinite(row)]
        assert best_of == (finite.max() if len(finite) else 0.0)
        assert middle_of == (np.median(finite) if len(finite) else 0.0)
