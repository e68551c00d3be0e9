"""The list reads' fast path answers exactly as the FastAPI route does: the same request, once
plain (answered by the fast path) and once with a parameter the route ignores (so it goes on
to FastAPI), gets the same status, headers and body."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from programs.http.app import create_app
from programs.http.fastpath import ListReads
from store.db import Database
from store.recs import availability
from store.recs.availability import AvailabilityCache
from tests.integration.programs.test_http import NOON, city, fallback, user, user_list, venue
from tests.support.api import keyed

ROUTED = "_routed=1"  # a parameter the route ignores and the fast path leaves to FastAPI


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What the fast path's parser returned, request by request."""
    seen: list[Any] = []
    parse = ListReads.parse

    def spied(self: ListReads, scope: Any) -> Any:
        seen.append(found := parse(self, scope))
        return found

    monkeypatch.setattr(ListReads, "parse", spied)
    return seen


@pytest.fixture
def world(db: Any) -> None:
    city(db)
    user(db, 1)
    for v in (10, 11, 12):
        venue(db, v)
    user_list(db, 1, "discovery", 0, [12, 10, 11], [0.9, 0.5, 0.25])
    fallback(db, 1, "category", 4, [30, 31])


@pytest.fixture
def client(db: Any, world: None) -> Iterator[TestClient]:
    app = create_app(db, clock=lambda: NOON)
    with TestClient(app, headers=keyed(db, "product-web", "lists:read")) as started:
        yield started


def both(client: TestClient, url: str, **kw: Any) -> tuple[Any, Any]:
    """The answer of the fast path and of the route to the same read."""
    joined = "&" if "?" in url else "?"
    return client.get(url, **kw), client.get(f"{url}{joined}{ROUTED}", **kw)


def same(fast: Any, routed: Any) -> None:
    assert fast.status_code == routed.status_code
    assert fast.content == routed.content
    assert fast.headers == routed.headers


@pytest.mark.parametrize(
    "url",
    [
        "/v1/users/1/recommendations/discovery",  # the user's own list
        "/v1/users/1/recommendations/discovery?limit=2",
        "/v1/users/1/recommendations/category?context=4",  # the city's fallback
        "/v1/users/1/recommendations/items?context=5",  # no list, no fallback: 404
        "/v1/users/1/recommendations/category",  # context required: 422
        "/v1/users/1/recommendations/discovery?context=3",  # no context taken: 422
    ],
)
def test_the_fast_path_answers_as_the_route(client: TestClient, taken: list[Any], url: str) -> None:
    # Given a world with lists / When the same read is made plain and routed
    fast, routed = both(client, url)
    # Then the fast path took the plain one, not the routed one, and both answered the same
    assert taken[0] is not None and taken[1] is None
    same(fast, routed)


@pytest.mark.parametrize("scopes", [(), ("inbox:read",)])
def test_credentials_are_checked_as_by_the_route(
    db: Any, client: TestClient, taken: list[Any], scopes: tuple[str, ...]
) -> None:
    # Given no key at all, or a key without lists:read
    headers = keyed(db, "agent", *scopes) if scopes else {"Authorization": ""}
    # When a list is read plain and routed
    fast, routed = both(client, "/v1/users/1/recommendations/discovery", headers=headers)
    # Then both refuse it alike: 401, or 403
    assert fast.status_code == (403 if scopes else 401)
    assert taken[0] is not None
    same(fast, routed)


def test_a_database_that_does_not_answer_is_503_as_by_the_route(db: Any) -> None:
    # Given an app whose list database is unreachable
    unreachable = Database("postgresql://postgres@127.0.0.1:1/nowhere", 1)
    cache = AvailabilityCache(lambda: availability.Snapshot({}, (), frozenset()))
    app = create_app(unreachable, api_database=db, availability=cache)
    with TestClient(app, headers=keyed(db, "product-web", "lists:read")) as client:
        # When a list is read plain and routed / Then both answer 503 alike
        fast, routed = both(client, "/v1/users/1/recommendations/discovery")
    assert fast.status_code == 503
    same(fast, routed)
