"""Brands, food categories and banners end to end on Postgres: intake statistics, the refresh,
the guarded reads (flights, deliverability) and overrides taking effect at the next read."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from actors.intake import write
from actors.recs import refresh_fallbacks, refresh_lists
from programs.cli import main
from schemas import parse_intake
from store import recs
from store.recs import personal
from tests.conftest import scalar
from tests.integration.store.recs.test_registry import load_history
from tests.support.factories import activity, batch, venue

NOW = datetime.now(UTC)
LAT, LON = 60.17, 24.94


def ingest(*events: dict[str, Any]) -> None:
    write(parse_intake(batch(list(events))))


def banner(banner_id: int, version: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "type": "banner.upserted",
        "schema_version": 1,
        "event_id": f"b{banner_id}-{version}",
        "version": version,
        "banner_id": banner_id,
        "name": f"Banner {banner_id}",
        "city_ids": [1],
        "starts_at": (NOW - timedelta(days=1)).isoformat(),
        "ends_at": (NOW + timedelta(days=1)).isoformat(),
        **fields,
    }


def user(user_id: int, north_m: float = 0.0) -> dict[str, Any]:
    return {
        "type": "user.upserted",
        "schema_version": 1,
        "event_id": f"u{user_id}",
        "version": 1,
        "user_id": user_id,
        "city_id": 1,
        "home_lat": LAT + north_m / 111_195.0,
        "home_lon": LON,
    }


@pytest.fixture
def world(db: Any, tmp_path: Path) -> Any:
    """City 1 (Helsinki time), brand 7 (venues 1, 2), brand 8 (venue 3), users 1..3 at home
    in the centre, banners: 1 city-wide, 2 for brand 7, 3 for brand 8; a trained model."""
    load_history(db, tmp_path)
    assert CliRunner().invoke(main, ["recs", "train"]).exit_code == 0
    city = {
        "type": "city.upserted",
        "schema_version": 1,
        "event_id": "c1",
        "version": 1,
        "city_id": 1,
        "name": "Helsinki",
        "lat": LAT,
        "lon": LON,
        "timezone": "Europe/Helsinki",
    }
    venues = [
        venue(f"v{v}", venue_id=v, brand_id=b, category_ids=[c], opening_hours=[])
        for v, b, c in ((1, 7, 11), (2, 7, 11), (3, 8, 11), (4, None, 12))
    ]
    banners = [banner(1), banner(2, brand_ids=[7]), banner(3, brand_ids=[8])]
    ingest(city, *venues, *[user(u) for u in (1, 2, 3)], *banners)
    return db


def read(db: Any, user_id: int, surface: str, context: int = 0) -> Any:
    with db.unit_of_work(single_statement=True) as uow:
        return recs.read(uow.connection, user_id, surface, context)


def cli(*args: str) -> str:
    result = CliRunner().invoke(main, ["recs", "overrides", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_banner_statistics_count_each_event_once_and_keep_a_lone_click(db: Any) -> None:
    # Given a banner impression in slot 0 delivered twice, and a click in slot 2 whose
    # impression never came, for user 5 of city 1 with no orders (segment new)
    ingest(user(5))
    shown = activity(
        "i1",
        5,
        kind="impression",
        surface="banner",
        venue_id=None,
        banner_id=9,
        position=0,
        propensity=0.25,
    )
    ingest(shown)
    ingest(shown, activity("c1", 5, surface="banner", venue_id=None, banner_id=9, position=2))
    # Then each counts once, the click is kept, the propensity is logged
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT banner_id, city_id, segment, position, impressions, clicks FROM banner_stats"
            " ORDER BY position"
        ).all()
    assert [tuple(r) for r in rows] == [(9, 1, "new", 0, 1, 0), (9, 1, "new", 2, 0, 1)]
    assert scalar(db, "SELECT propensity FROM activity_events WHERE event_id = 'i1'") == 0.25
    # And the user's banners are due for a re-rank a minute later (the session coalesces)
    assert scalar(db, "SELECT count(*) FROM user_changes WHERE due_at > now()") >= 1


def test_refresh_ranks_the_three_surfaces_and_reads_carry_propensities(world: Any) -> None:
    refresh_lists.fn({"schema_version": 1, "user_ids": [1, 2, 3]})
    found = read(world, 1, "banners")
    assert found is not None and not found.fallback
    assert sorted(found.ids) == [1, 2, 3]
    assert found.propensities is not None and len(found.propensities) == 3
    assert all(0 < p <= 1 for p in found.propensities)
    brands = read(world, 1, "brands")
    assert brands is not None and sorted(brands.ids) == [7, 8] and not brands.fallback
    categories = read(world, 1, "food_categories")  # now, in Helsinki: 4 venues open all day
    assert categories is not None and categories.ids == [11]  # 12 has one venue: too few
    assert 1 <= categories.context <= 5


def test_a_read_never_serves_an_ended_banner_or_a_brand_that_stopped_delivering(world: Any) -> None:
    # Given lists computed while banner 3 was in flight and brand 8's venue was open
    refresh_lists.fn({"schema_version": 1, "user_ids": [1]})
    # When banner 3's flight ends and venue 3 closes for good (the row is not recomputed)
    ended = (NOW - timedelta(seconds=1)).isoformat()
    ingest(
        banner(
            3,
            version=2,
            brand_ids=[8],
            starts_at=(NOW - timedelta(days=2)).isoformat(),
            ends_at=ended,
        ),
        venue("v3b", venue_id=3, version=2, brand_id=8, category_ids=[11], active=False),
    )
    # Then the next read drops both
    assert 3 not in read(world, 1, "banners").ids
    assert read(world, 1, "brands").ids == [7]


def test_overrides_take_effect_at_the_next_read(world: Any) -> None:
    refresh_lists.fn({"schema_version": 1, "user_ids": [1, 2]})
    # pause banner 1 everywhere
    cli("pause", "1", "--reason", "legal")
    assert 1 not in read(world, 1, "banners").ids
    # pin banner 3 to slot 1 in city 1; exclude it for user 2 (exclusion wins)
    cli("pin", "3", "--city", "1", "--slot", "1")
    cli("exclude", "--user", "2", "--banner", "3")
    pinned = read(world, 1, "banners")
    assert pinned.ids[0] == 3 and pinned.propensities[0] == 1.0
    assert 3 not in read(world, 2, "banners").ids
    # exclude brand 8 for user 1
    cli("exclude", "--user", "1", "--brand", "8")
    assert read(world, 1, "brands").ids == [7]
    # removing the pause brings banner 1 back at the next read
    listed = cli("list")
    pause_id = next(line.split()[0] for line in listed.splitlines() if " pause " in line)
    cli("remove", pause_id)
    assert 1 in read(world, 1, "banners").ids


def test_a_new_user_reads_the_citys_fallback_flagged(world: Any) -> None:
    refresh_fallbacks()
    ingest(user(50))
    found = read(world, 50, "banners")
    assert found is not None and found.fallback and found.ids == [1]  # city-wide only
    assert found.propensities == [1.0]
    brands = read(world, 50, "brands")
    assert brands is not None and brands.fallback and sorted(brands.ids) == [7, 8]


def test_the_http_read_serves_propensities_and_honours_a_pause_at_once(world: Any) -> None:
    from fastapi.testclient import TestClient

    from programs.http.app import create_app
    from tests.integration.programs.test_http import keyed

    refresh_lists.fn({"schema_version": 1, "user_ids": [1]})
    with TestClient(create_app(world), headers=keyed(world, "web", "lists:read")) as client:
        body = client.get("/v1/users/1/recommendations/banners").json()
        assert sorted(body["ids"]) == [1, 2, 3] and len(body["propensities"]) == 3
        cli("pause", "2")
        body = client.get("/v1/users/1/recommendations/banners").json()
        assert 2 not in body["ids"] and len(body["propensities"]) == len(body["ids"]) == 2
        limited = client.get("/v1/users/1/recommendations/banners", params={"limit": 1}).json()
        assert len(limited["ids"]) == len(limited["propensities"]) == 1
        # food categories: a day-part may be asked for (late night here), or left to now
        late = client.get("/v1/users/1/recommendations/food_categories", params={"context": 5})
        assert late.status_code == 200 and late.json()["context"] == 5
        assert (
            client.get("/v1/users/1/recommendations/brands", params={"context": 5}).status_code
            == 422
        )


def test_overrides_cli_refuses_an_ambiguous_exclusion_and_lists_as_json(db: Any) -> None:
    import json

    both = CliRunner().invoke(
        main, ["recs", "overrides", "exclude", "--user", "1", "--banner", "2", "--brand", "3"]
    )
    assert both.exit_code != 0 and "exactly one of --banner and --brand" in both.output
    until = (NOW + timedelta(hours=1)).isoformat()
    cli("pin", "4", "--city", "1", "--slot", "2", "--until", until, "--reason", "launch")
    listed = json.loads(cli("list", "--json"))
    assert [(o["action"], o["target_id"], o["slot"], o["in_effect"]) for o in listed] == [
        ("pin", 4, 2, True)
    ]
    missing = CliRunner().invoke(main, ["recs", "overrides", "remove", "999999"])
    assert missing.exit_code != 0 and "no override 999999" in missing.output


def marked_users(db: Any, since: datetime, until: datetime) -> list[int]:
    """The users `store.recs.personal.mark_banner_audiences` marks for (since, until], from
    nobody waiting; the marks are then cleared."""
    with db.unit_of_work() as uow:
        uow.connection.execute("DELETE FROM user_changes")
        count = personal.mark_banner_audiences(uow.connection, since, until)
    found = scalar(db, "SELECT array_agg(user_id ORDER BY user_id) FROM user_changes") or []
    assert count == len(found)
    with db.unit_of_work() as uow:
        uow.connection.execute("DELETE FROM user_changes")
    return list(found)


def test_a_banner_whose_flight_starts_reaches_its_citys_users_at_the_next_re_rank(
    world: Any,
) -> None:
    # Given user 9 in city 2, banner 4 of city 1 starting in a second, banner 5 of city 2 in
    # two hours, and every user's banners ranked before either started
    starts = datetime.now(UTC) + timedelta(seconds=1)
    later = datetime.now(UTC) + timedelta(hours=2)
    ingest(
        {**user(9), "city_id": 2},
        banner(4, starts_at=starts.isoformat()),
        banner(5, city_ids=[2], starts_at=later.isoformat()),
    )
    refresh_lists.fn({"schema_version": 1, "user_ids": [1, 2, 3, 9]})
    assert 4 not in read(world, 1, "banners").ids
    ingested = datetime.now(UTC)
    time.sleep(max(0.0, (starts - datetime.now(UTC)).total_seconds()) + 0.1)
    # When a window holding banner 4's start is marked / Then city 1's users, not user 9
    assert marked_users(world, ingested, datetime.now(UTC)) == [1, 2, 3]
    # And a window where nothing started or changed marks nobody; banner 5's start, user 9
    assert marked_users(world, datetime.now(UTC), later - timedelta(seconds=1)) == []
    assert marked_users(world, later - timedelta(seconds=1), later) == [9]
    # And the re-rank of the marked users serves banner 4
    refresh_lists.fn({"schema_version": 1, "user_ids": [1, 2, 3]})
    assert 4 in read(world, 1, "banners").ids


def test_a_banner_unpaused_or_created_in_flight_marks_its_audience(world: Any) -> None:
    # Given banner 1 (city 1) paused until a minute from now
    until = datetime.now(UTC) + timedelta(minutes=1)
    with world.unit_of_work() as uow:
        personal.add_override(
            uow.connection,
            **dict.fromkeys(("city_id", "user_id", "slot", "starts_at"), None),
            action="pause",
            target="banner",
            target_id=1,
            ends_at=until,
            reason="test",
        )
    before = datetime.now(UTC)
    # When its pause runs out / Then city 1's users are marked
    assert marked_users(world, until - timedelta(seconds=1), until) == [1, 2, 3]
    # And while it is paused, a window holding nothing marks nobody
    assert marked_users(world, before, until - timedelta(seconds=1)) == []
    # And a banner created in flight marks them from its creation on
    ingest(banner(6))
    assert marked_users(world, before, datetime.now(UTC)) == [1, 2, 3]


def test_the_duty_marks_each_window_once(world: Any, monkeypatch: Any) -> None:
    from actors.recs import banner_audiences

    # Given a scheduler that has just taken the duty over (banners 1-3 created a moment ago)
    monkeypatch.setattr(banner_audiences, "_since", None)
    # When it runs / Then its first window reaches two periods back: city 1's users
    assert banner_audiences.mark_banner_audiences() == 3
    with world.unit_of_work() as uow:
        uow.connection.execute("DELETE FROM user_changes")
    # And its next run starts where the last ended: nothing new, nobody marked
    assert banner_audiences.mark_banner_audiences() == 0
    # And a banner created since is found by the run after it
    ingest(banner(6))
    assert banner_audiences.mark_banner_audiences() == 3


def test_the_reads_day_part_is_the_one_python_computes_at_every_hour_and_zone(db: Any) -> None:
    from domain.recs.personal import daypart_at
    from store.recs.queries import _daypart_of

    # Given every hour of a day, in zones east and west of UTC, one without DST, an unknown
    # one and none at all
    zones = ["Europe/Helsinki", "America/Los_Angeles", "Asia/Kolkata", "Mars/Base", None]
    start = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # Helsinki's clocks go forward at 01:00
    sql = f"SELECT {_daypart_of('larder_local_hour(%(zone)s, %(at)s)')}"
    for zone in zones:
        for step in range(48):
            at = start + timedelta(minutes=30 * step)
            # When Postgres picks the day-part (the read's statement) / Then it is Python's
            with db.unit_of_work(single_statement=True) as uow:
                found = uow.connection.execute(sql, {"zone": zone, "at": at}).fetchone()[0]
            local = at.astimezone(ZoneInfo(zone)) if zone and zone != "Mars/Base" else at
            assert found == daypart_at(local), (zone, at)


def test_a_food_categories_read_without_a_day_part_reads_the_current_one_in_one_query(
    world: Any,
) -> None:
    from domain.recs.personal import daypart_at

    refresh_lists.fn({"schema_version": 1, "user_ids": [1]})
    # When the user's food categories are read without a day-part
    found = read(world, 1, "food_categories")
    # Then the list is the one of the day-part now in Helsinki
    assert found is not None
    assert found.context == daypart_at(datetime.now(ZoneInfo("Europe/Helsinki")))
    assert found.ids == read(world, 1, "food_categories", found.context).ids
