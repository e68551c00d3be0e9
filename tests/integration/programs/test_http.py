"""The HTTP read API against the real Postgres: lists, fallbacks, errors, read-time filters and
cart complements. Rows are inserted directly, as the refresh actors would have written them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from programs.http.app import create_app
from store.db import Database
from store.recs import availability
from store.recs.availability import AvailabilityCache
from tests.conftest import wait_for
from tests.integration.programs.test_procfile_worker import free_port, procfile
from tests.support.api import keyed

# Monday 2026-01-05, 20:30 UTC = 22:30 in Helsinki (UTC+2)
EVENING = datetime(2026, 1, 5, 20, 30, tzinfo=UTC)
NOON = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)  # 12:00 in Helsinki
TEN_TO_TEN = [{"weekday": d, "opens": "10:00", "closes": "22:00"} for d in range(7)]


def execute(db: Any, sql: str, **params: Any) -> None:
    with db.engine.begin() as conn:
        conn.exec_driver_sql(sql, params or None)


def city(db: Any, city_id: int = 1, timezone: str = "Europe/Helsinki") -> None:
    execute(
        db,
        "INSERT INTO cities (city_id, name, lat, lon, timezone, version)"
        " VALUES (%(id)s, 'Helsinki', 60.17, 24.94, %(tz)s, 1)",
        id=city_id,
        tz=timezone,
    )


def venue(
    db: Any, venue_id: int, *, active: bool = True, hours: list[dict[str, Any]] | None = None
) -> None:
    execute(
        db,
        "INSERT INTO venues (venue_id, city_id, name, lat, lon, delivery_radius_m, cuisines,"
        " category_ids, price_level, opening_hours, active, version)"
        " VALUES (%(id)s, 1, 'V', 60.17, 24.94, 3000, '{}', '{}', 2, %(hours)s, %(active)s, 1)",
        id=venue_id,
        hours=json.dumps([] if hours is None else hours),
        active=active,
    )


def item(db: Any, item_id: int, venue_id: int, *, available: bool = True) -> None:
    execute(
        db,
        "INSERT INTO items (item_id, venue_id, name, price, available, version)"
        " VALUES (%(id)s, %(venue)s, 'I', 500, %(available)s, 1)",
        id=item_id,
        venue=venue_id,
        available=available,
    )


def user(db: Any, user_id: int, city_id: int = 1) -> None:
    execute(
        db,
        "INSERT INTO users (user_id, city_id, home_lat, home_lon, version)"
        " VALUES (%(id)s, %(city)s, 60.17, 24.94, 1)",
        id=user_id,
        city=city_id,
    )


def user_list(
    db: Any,
    user_id: int,
    surface: str,
    context: int,
    ids: list[int],
    scores: list[float] | None = None,
    age: str = "1 minute",
) -> None:
    execute(
        db,
        # a list more for the user's surface row: appended to the row's lists
        "INSERT INTO recommendations AS r (user_id, surface, contexts, bounds, ids, scores,"
        " model_version, inputs_at, computed_at)"
        " VALUES (%(user)s, %(surface)s, ARRAY[%(context)s::bigint],"
        " ARRAY[0, cardinality(%(ids)s::bigint[])], %(ids)s, %(scores)s, 'm-user',"
        " now() - %(age)s::interval, now() - %(age)s::interval)"
        " ON CONFLICT (user_id, surface) DO UPDATE SET contexts = r.contexts || EXCLUDED.contexts,"
        " bounds = r.bounds || (r.bounds[cardinality(r.bounds)] + cardinality(EXCLUDED.ids)),"
        " ids = r.ids || EXCLUDED.ids, scores = r.scores || EXCLUDED.scores,"
        " computed_at = EXCLUDED.computed_at",
        user=user_id,
        surface=surface,
        context=context,
        ids=ids,
        scores=scores or _descending(len(ids)),
        age=age,
    )


def fallback(
    db: Any,
    city_id: int,
    surface: str,
    context: int,
    ids: list[int],
    scores: list[float] | None = None,
    age: str = "1 minute",
    version: str = "m-popular",
) -> None:
    execute(
        db,
        "INSERT INTO fallback_recommendations"
        " (city_id, surface, context, ids, scores, model_version, computed_at)"
        " VALUES (%(city)s, %(surface)s, %(context)s, %(ids)s, %(scores)s, %(version)s,"
        " now() - %(age)s::interval)",
        city=city_id,
        surface=surface,
        context=context,
        ids=ids,
        scores=scores or _descending(len(ids)),
        age=age,
        version=version,
    )


def _descending(n: int) -> list[float]:
    return [float(n - i) for i in range(n)]


@pytest.fixture
def api(db: Any) -> Iterator[Callable[..., TestClient]]:
    """Start the app (after the test's rows are in: the catalog snapshot loads at start-up)."""
    clients: list[TestClient] = []

    def start(clock: datetime = NOON, cache: AvailabilityCache | None = None) -> TestClient:
        app = create_app(db, clock=lambda: clock, availability=cache)
        client = TestClient(app, headers=keyed(db, "product-web", "lists:read"))
        clients.append(client.__enter__())
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def get(client: TestClient, url: str, **params: Any) -> Any:
    return client.get(url, params=params)


# --- lists and fallbacks -------------------------------------------------------------------


def test_a_users_fresh_list_is_served_as_stored(db: Any, api: Any) -> None:
    # Given user 1's fresh discovery list of three (always open) venues
    city(db)
    user(db, 1)
    for v in (10, 11, 12):
        venue(db, v)
    user_list(db, 1, "discovery", 0, [12, 10, 11], [0.9, 0.5, 0.25])
    # When it is read
    response = api().get("/v1/users/1/recommendations/discovery")
    # Then it comes back whole, personal, with every documented field
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ids"] == [12, 10, 11] and body["scores"] == [0.9, 0.5, 0.25]
    assert (body["user_id"], body["surface"], body["context"]) == (1, "discovery", 0)
    assert body["model_version"] == "m-user" and body["fallback"] is False
    assert set(body) == {
        "user_id",
        "surface",
        "context",
        "ids",
        "scores",
        "model_version",
        "computed_at",
        "propensities",
        "fallback",
    }
    assert datetime.fromisoformat(body["computed_at"]).tzinfo is not None


def test_without_a_list_the_city_fallback_is_served_and_flagged(db: Any, api: Any) -> None:
    # Given user 2 (city 1) has no category list; city 1 and every city have popular lists
    city(db)
    user(db, 2)
    fallback(db, 1, "category", 4, [30, 31])
    fallback(db, 0, "category", 4, [99])
    # When user 2's category 4 list is read
    body = api().get("/v1/users/2/recommendations/category", params={"context": 4}).json()
    # Then the city's popular list is served, flagged as a fallback
    assert body["ids"] == [30, 31] and body["fallback"] is True
    assert body["model_version"] == "m-popular" and body["context"] == 4


def test_a_user_the_store_does_not_know_reads_the_every_city_fallback(db: Any, api: Any) -> None:
    # Given popular lists of city 1 and of every city (city 0), and no user 77 anywhere
    city(db)
    fallback(db, 1, "discovery", 0, [10, 11])
    fallback(db, 0, "discovery", 0, [12, 10, 11])
    # When user 77 reads discovery
    response = api().get("/v1/users/77/recommendations/discovery")
    # Then the every-city list is served, flagged as a fallback (not a 404)
    assert response.status_code == 200, response.text
    assert response.json()["ids"] == [12, 10, 11] and response.json()["fallback"] is True


def test_a_stale_user_list_reads_as_the_fallback(db: Any, api: Any) -> None:
    # Given user 3's items list for venue 5 was computed four days ago (max age: 72 h)
    city(db)
    user(db, 3)
    user_list(db, 3, "items", 5, [501, 502], age="4 days")
    fallback(db, 0, "items", 5, [509, 508])
    # When it is read
    body = api().get("/v1/users/3/recommendations/items", params={"context": 5}).json()
    # Then the venue's popular items are served instead, flagged
    assert body["ids"] == [509, 508] and body["fallback"] is True


def test_limit_cuts_the_list(db: Any, api: Any) -> None:
    user_list(db, 1, "items", 5, list(range(500, 550)))
    body = api().get("/v1/users/1/recommendations/items?context=5&limit=3").json()
    assert body["ids"] == [500, 501, 502] and body["scores"] == [50.0, 49.0, 48.0]


# --- errors --------------------------------------------------------------------------------


def test_an_unknown_surface_is_404_naming_the_known_ones(db: Any, api: Any) -> None:
    response = api().get("/v1/users/1/recommendations/coupons")
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert "'coupons'" in detail and "discovery, category, items, brands" in detail


def test_no_list_and_no_fallback_is_404(db: Any, api: Any) -> None:
    # Given nothing stored for venue 5 / When user 1 reads it / Then 404 says what was missing
    response = api().get("/v1/users/1/recommendations/items?context=5")
    assert response.status_code == 404
    assert response.json()["detail"] == "no items list for user 1 (context 5) and no fallback"


@pytest.mark.parametrize(
    ("url", "parameter", "message"),
    [
        ("/v1/users/1/recommendations/discovery?limit=0", "limit", "greater than or equal to 1"),
        ("/v1/users/1/recommendations/discovery?limit=101", "limit", "less than or equal to 100"),
        ("/v1/users/1/recommendations/discovery?limit=many", "limit", "valid integer"),
        ("/v1/users/1/recommendations/category", "context", "category needs context"),
        ("/v1/users/1/recommendations/items?context=0", "context", "items needs context"),
        ("/v1/users/1/recommendations/discovery?context=3", "context", "takes no context"),
        ("/v1/users/1/recommendations/items?context=-5", "context", "greater than or equal to 0"),
        ("/v1/users/abc/recommendations/discovery", "user_id", "valid integer"),
        ("/v1/users/0/recommendations/discovery", "user_id", "greater than or equal to 1"),
        (f"/v1/users/{2**63}/recommendations/discovery", "user_id", "less than or equal to"),
        ("/v1/users/1/cart", "items", "Field required"),
        ("/v1/users/1/cart?items=x", "items", "valid integer"),
    ],
)
def test_bad_parameters_are_422_saying_which_and_why(
    db: Any, api: Any, url: str, parameter: str, message: str
) -> None:
    response = api().get(url)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"][-1] == parameter or error["loc"][-2] == parameter
    assert message in error["msg"]


# --- read-time filters ---------------------------------------------------------------------


def test_venues_closed_now_in_their_city_are_dropped(db: Any, api: Any) -> None:
    # Given user 1's discovery list: venue 10 open 10:00-22:00 Helsinki time, venue 11 always
    city(db, timezone="Europe/Helsinki")
    venue(db, 10, hours=TEN_TO_TEN)
    venue(db, 11)
    user_list(db, 1, "discovery", 0, [10, 11])
    url = "/v1/users/1/recommendations/discovery"
    # When it is read at noon, and at 20:30 UTC (22:30 in Helsinki)
    at_noon = api(clock=NOON).get(url).json()
    in_the_evening = api(clock=EVENING).get(url).json()
    # Then venue 10 is served at noon and dropped once it has closed, with its score
    assert at_noon["ids"] == [10, 11]
    assert in_the_evening["ids"] == [11] and in_the_evening["scores"] == [1.0]


def test_inactive_venues_are_dropped_before_the_limit(db: Any, api: Any) -> None:
    # Given a category list whose best venue is inactive
    city(db)
    venue(db, 10, active=False)
    venue(db, 11)
    venue(db, 12)
    user_list(db, 1, "category", 4, [10, 11, 12])
    # When two are asked for
    body = api().get("/v1/users/1/recommendations/category?context=4&limit=2").json()
    # Then the two best active ones come back
    assert body["ids"] == [11, 12]


def test_unavailable_items_are_dropped(db: Any, api: Any) -> None:
    # Given a venue's popular items, the first one sold out
    item(db, 501, 5, available=False)
    item(db, 502, 5)
    fallback(db, 0, "items", 5, [501, 502, 503])
    # When user 1 reads the venue's items
    body = api().get("/v1/users/1/recommendations/items?context=5").json()
    # Then the sold-out one is left out (503, unknown to the catalog, is kept)
    assert body["ids"] == [502, 503] and body["fallback"] is True


def test_a_venue_deactivated_later_is_dropped_once_the_snapshot_refreshes(
    db: Any, api: Any
) -> None:
    # Given venue 10 active when the catalog snapshot was loaded
    city(db)
    venue(db, 10)
    venue(db, 11)
    user_list(db, 1, "discovery", 0, [10, 11])
    seconds = [0.0]

    def load() -> availability.Snapshot:
        with db.unit_of_work(single_statement=True) as uow:
            return availability.load(uow.connection)

    cache = AvailabilityCache(load, 10.0, lambda: seconds[0], spawn=lambda work: work())
    client = api(cache=cache)
    url = "/v1/users/1/recommendations/discovery"
    assert client.get(url).json()["ids"] == [10, 11]
    # When it is deactivated, and read 5 s and then 10 s later
    execute(db, "UPDATE venues SET active = false WHERE venue_id = 10")
    seconds[0] = 5.0
    within_the_age = client.get(url).json()["ids"]
    seconds[0] = 10.0
    client.get(url)  # finds the snapshot stale: starts the refresh, is served the old one
    after_the_refresh = client.get(url).json()["ids"]
    # Then it is served until the snapshot is 10 s old, and dropped after
    assert within_the_age == [10, 11]
    assert after_the_refresh == [11]


# --- cart ----------------------------------------------------------------------------------

VENUE = 5


@pytest.fixture
def cart_world(db: Any) -> Any:
    """Venue 5's items 51-58 and the complements of 51 and 52 (lifts)."""
    city(db)
    venue(db, VENUE)
    for i in range(51, 59):
        item(db, i, VENUE, available=i != 57)
    fallback(db, 0, "cart", 51, [52, 53, 54, 57], [2.0, 1.5, 1.25, 3.0], age="2 hours")
    fallback(db, 0, "cart", 52, [53, 51, 55], [1.5, 3.0, 1.125], age="1 hour")
    return db


def cart(client: TestClient, *items: int, limit: int | None = None) -> Any:
    params: dict[str, Any] = {"items": list(items)}
    if limit is not None:
        params["limit"] = limit
    return client.get("/v1/users/1/cart", params=params)


def test_cart_complements_are_summed_over_the_cart_and_exclude_it(
    cart_world: Any, api: Any
) -> None:
    # Given user 1 has no items list at venue 5, nor does the venue have a popular one
    # When the cart holds 51 and 52 (51 twice)
    response = cart(api(), 51, 52, 51)
    # Then 53, complement of both, sums its lifts; 51 and 52 (in the cart) and 57 (sold out)
    # are left out; nothing re-ranks, so this is the order of the summed lifts
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ids"] == [53, 54, 55]
    assert body["scores"] == pytest.approx([3.0, 1.25, 1.125])
    assert (body["surface"], body["context"], body["model_version"]) == ("cart", VENUE, "m-popular")
    assert body["fallback"] is True


def test_cart_complements_are_reranked_by_the_users_affinity(cart_world: Any, api: Any) -> None:
    # Given user 1's fresh items list at venue 5 likes 55 most (affinity 1) and 54 half as much
    user_list(cart_world, 1, "items", VENUE, [55, 54, 56], [4.0, 2.0, 1.0], age="30 minutes")
    # When the cart holds 51 and 52
    body = cart(api(), 51, 52).json()
    # Then lift x (1 + affinity): 53 3.0, 55 1.125 x 2, 54 1.25 x 1.5; the list is personal;
    # computed_at is that of the oldest row used (51's complements, two hours old)
    assert body["ids"] == [53, 55, 54]
    assert body["scores"] == pytest.approx([3.0, 2.25, 1.875])
    assert body["fallback"] is False
    # And the scores have 4 places at most, as stored lists do (no float4 noise)
    assert all(round(score, 4) == score for score in body["scores"])
    oldest = scalar_time(cart_world, "SELECT min(computed_at) FROM fallback_recommendations")
    assert datetime.fromisoformat(body["computed_at"]) == oldest


def test_without_a_user_list_the_venues_popular_items_rerank_and_flag_fallback(
    cart_world: Any, api: Any
) -> None:
    # Given user 1's list at venue 5 is stale, and the venue's popular items favour 55
    user_list(cart_world, 1, "items", VENUE, [54], [1.0], age="5 days")
    fallback(cart_world, 0, "items", VENUE, [55, 54], [10.0, 1.0])
    # When the cart holds 51 and 52
    body = cart(api(), 51, 52, limit=2).json()
    # Then 55 (1.125 x 2) passes 54 (1.25 x 1.1), and the list is flagged as a fallback
    assert body["ids"] == [53, 55]
    assert body["scores"] == pytest.approx([3.0, 2.25])
    assert body["fallback"] is True


def test_a_cart_of_unknown_items_or_without_complements_is_404(cart_world: Any, api: Any) -> None:
    client = api()
    assert cart(client, 999).status_code == 404
    assert cart(client, 56).status_code == 404  # known, but no complements recorded


def test_a_cart_across_venues_is_422(cart_world: Any, api: Any) -> None:
    item(cart_world, 61, 6)
    response = cart(api(), 51, 61)
    assert response.status_code == 422
    assert "venues [5, 6]" in response.json()["detail"][0]["msg"]


# --- the service ---------------------------------------------------------------------------


def test_health_and_openapi_with_descriptions(db: Any, api: Any) -> None:
    client = api()
    assert client.get("/healthz").json() == {"status": "ok"}
    spec = client.get("/openapi.json").json()
    read = spec["paths"]["/v1/users/{user_id}/recommendations/{surface}"]["get"]
    assert "fallback" in read["description"]
    assert {p["name"] for p in read["parameters"]} == {"user_id", "surface", "context", "limit"}
    assert all(p.get("description") for p in read["parameters"])
    assert "/v1/users/{user_id}/cart" in spec["paths"]
    assert client.get("/docs").status_code == 200


def scalar_time(db: Any, sql: str) -> datetime:
    with db.engine.connect() as conn:
        value = conn.exec_driver_sql(sql).scalar()
    assert isinstance(value, datetime)
    return value


def test_the_procfile_web_line_serves_the_api(db: Any) -> None:
    # Given a fallback list, and the Procfile's `web` line started as ops start it
    fallback(db, 0, "items", 5, [501, 502])
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PORT": str(port),
    }
    proc = subprocess.Popen(["sh", "-c", procfile("web")], env=env, start_new_session=True)
    try:
        # When it answers
        wait_for(lambda: _status(port, "/healthz") == 200)
        # Then lists are served on $PORT, to callers with a key only
        url = "/v1/users/1/recommendations/items?context=5"
        assert _status(port, url, keyed(db, "product-web", "lists:read")) == 200
        assert _status(port, url) == 401
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def _status(port: int, path: str, headers: dict[str, str] | None = None) -> int | None:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def test_a_database_that_does_not_answer_is_503(db: Any) -> None:
    # Given an app whose database is unreachable (its catalog snapshot is empty)
    unreachable = Database("postgresql://postgres@127.0.0.1:1/nowhere", 1)
    cache = AvailabilityCache(lambda: availability.Snapshot({}, (), frozenset()))
    app = create_app(unreachable, api_database=db, availability=cache)  # keys: still readable
    with TestClient(app, headers=keyed(db, "product-web", "lists:read")) as client:
        # When a list is read / Then 503 says so, and liveness still answers
        response = client.get("/v1/users/1/recommendations/discovery")
        assert response.status_code == 503
        assert response.json() == {"detail": "database unavailable"}
        assert client.get("/healthz").status_code == 200


def test_the_read_api_also_serves_the_support_inbox(db: Any) -> None:
    # Given the read API app / When the inbox is listed / Then it answers (empty inbox)
    from fastapi.testclient import TestClient

    from programs.http.app import create_app

    with TestClient(create_app(db), headers=keyed(db, "alice", "inbox:read")) as client:
        response = client.get("/v1/inbox")
    assert response.status_code == 200 and response.json() == []
    assert "/v1/inbox" in client.app.openapi()["paths"]  # type: ignore[attr-defined]


def test_a_read_that_waits_too_long_is_cancelled_and_503(db: Any) -> None:
    # Given the app on connections set up as `larder serve` sets them up (a statement timeout)
    from store.db import SESSION_OPTIONS
    from tests.conftest import TEST_DB_URL

    options = f"{SESSION_OPTIONS} -c statement_timeout=100"
    serving = Database(TEST_DB_URL, 1, options)
    cache = AvailabilityCache(lambda: availability.Snapshot({}, (), frozenset()))
    app = create_app(serving, availability=cache)
    headers = keyed(db, "product-web", "lists:read")
    with db.engine.connect() as blocker, TestClient(app, headers=headers) as c:
        # And a migration-like lock that blocks every read of the lists
        blocker.exec_driver_sql("LOCK TABLE recommendations IN ACCESS EXCLUSIVE MODE")
        # When a list is read
        response = c.get("/v1/users/1/recommendations/discovery")
        blocker.rollback()
        # Then the read gave up (the event loop is not held) with a 503, and the next one works
        assert response.status_code == 503
        assert c.get("/v1/users/1/recommendations/discovery").status_code == 404
    serving.dispose()
