"""The HTTP API's access policy against the real store: keys, scopes, the agent as principal,
rate limits, body limits, open reads, docs, and errors that reveal nothing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.security.rates import RateLimits
from programs.http.app import create_app
from programs.http.security import UNAUTHENTICATED, Access, KeySnapshot
from tests.integration.programs import test_inbox
from tests.integration.programs.test_http import fallback, user
from tests.support.api import bearer, key_for

Build = Callable[..., TestClient]
now = test_inbox.now  # the inbox's fixtures: a fixed clock, two open problems
two_problems = test_inbox.two_problems


@pytest.fixture
def app(db: Any) -> Iterator[Build]:
    """The app on the test database, with an access policy of the test's choosing."""
    clients: list[TestClient] = []

    def build(
        rate: float = 1000, burst: int = 1000, open_reads: bool = False, **options: Any
    ) -> TestClient:
        access = Access(KeySnapshot(db, 0.2), RateLimits(rate, burst), open_reads)
        client = TestClient(create_app(db, access=access, **options)).__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def every_operation(client: TestClient) -> list[tuple[str, str]]:
    spec = client.get("/openapi.json").json()
    return [(method, path) for path, item in spec["paths"].items() for method in item]


def call(client: TestClient, method: str, path: str, **kw: Any) -> Any:
    concrete = path.replace("{user_id}", "1").replace("{problem_id}", "1")
    concrete = concrete.replace("{surface}", "discovery")
    body: dict[str, Any] = {"json": {}} if method == "post" else {}
    return client.request(method, concrete, **body, **kw)


def test_every_endpoint_but_the_probes_needs_credentials(app: Build) -> None:
    client = app()
    # Given every operation the OpenAPI spec lists
    operations = every_operation(client)
    assert len(operations) >= 7
    # When each is called without credentials
    for method, path in operations:
        response = call(client, method, path)
        # Then only the probes answer; every other says 401, the same way
        if path in ("/healthz", "/readyz"):  # probes carry no key (readyz: no details)
            assert response.status_code == 200
            continue
        assert response.status_code == 401, (method, path)
        assert response.json() == {"detail": UNAUTHENTICATED}
        assert response.headers["www-authenticate"] == "Bearer"


def test_unknown_wrong_revoked_and_malformed_keys_get_one_and_the_same_401(
    app: Build, db: Any
) -> None:
    from store.security import revoke_key

    client = app()
    good = key_for(db, "product-web", "lists:read")
    revoked = key_for(db, "old-client", "lists:read")
    with db.unit_of_work() as uow:
        revoke_key(uow.connection, revoked.split("_")[1])
    key_id = good.split("_")[1]
    # Given a wrong secret for a real key id, an unknown key id, a revoked key, garbage
    tried = [
        f"lk_{key_id}_" + "A" * 43,
        "lk_" + "z" * 12 + "_" + "A" * 43,
        revoked,
        "not-a-key",
    ]
    url = "/v1/users/1/recommendations/discovery"
    # When each is presented / Then the answers cannot be told apart
    answers = {(r.status_code, r.text) for r in (client.get(url, headers=bearer(t)) for t in tried)}
    assert answers == {(401, '{"detail":"' + UNAUTHENTICATED.replace('"', '\\"') + '"}')}
    # While the good key passes authentication (no list: 404)
    assert client.get(url, headers=bearer(good)).status_code == 404


def test_each_scope_opens_only_its_endpoints(app: Build, db: Any, two_problems: Any) -> None:
    client = app()
    lists = bearer(key_for(db, "product-web", "lists:read"))
    reader = bearer(key_for(db, "auditor", "inbox:read"))
    problem = two_problems[0]
    # A lists key cannot read the inbox; an inbox reader cannot act on it or read lists
    assert client.get("/v1/inbox", headers=lists).status_code == 403
    assert client.get("/v1/inbox", headers=reader).status_code == 200
    assert client.get(f"/v1/inbox/{problem}", headers=reader).status_code == 200
    denied = client.post(f"/v1/inbox/{problem}/ack", json={"version": 1}, headers=reader)
    assert denied.status_code == 403
    assert denied.json() == {"detail": "this key lacks the scope inbox:act"}
    assert client.get("/v1/users/1/cart?items=1", headers=reader).status_code == 403


def test_the_agent_on_an_action_is_the_authenticated_principal(
    app: Build, db: Any, two_problems: Any
) -> None:
    client = app()
    alice = bearer(key_for(db, "alice", "inbox:read", "inbox:act"))
    first, second = two_problems
    # When alice acknowledges and resolves, with a note
    client.post(f"/v1/inbox/{first}/ack", json={"version": 1, "note": "calling"}, headers=alice)
    done = client.post(f"/v1/inbox/{first}/resolve", json={"version": 2}, headers=alice).json()
    # Then the record and its history name alice, from her key
    assert done["acknowledged_by"] == "alice" and done["resolved_by"] == "alice"
    record = client.get(f"/v1/inbox/{first}", headers=alice).json()
    assert [c["actor"] for c in record["history"][1:]] == ["alice", "alice"]
    # And nobody can act in another's name: a name in the body is refused
    body = {"version": 1, "agent": "bob"}
    claimed = client.post(f"/v1/inbox/{second}/ack", json=body, headers=alice)
    assert claimed.status_code == 422
    assert client.get(f"/v1/inbox/{second}", headers=alice).json()["acknowledged_by"] is None


def test_a_new_key_works_within_a_second_and_a_revoked_one_stops_within_the_refresh(
    db: Any,
) -> None:
    from store.security import revoke_key

    # Given an app that reloads its keys every 60 s, and has loaded them
    access = Access(KeySnapshot(db, 60.0), RateLimits(1000, 1000), open_reads=False)
    client = TestClient(create_app(db, access=access))
    url = "/v1/users/1/recommendations/discovery"
    assert client.get(url, headers=bearer(key_for(db, "warm-up", "lists:read"))).status_code == 404
    # When a key is created afterwards / Then an unknown key id reloads them (at most once a
    # second), so it works within a second
    token = key_for(db, "late-client", "lists:read")
    time.sleep(1.05)
    assert client.get(url, headers=bearer(token)).status_code == 404
    # And with the default refresh (5 s; 0.2 s here), a revoked key is refused soon after
    access.snapshot.refresh_s = 0.2
    with db.unit_of_work() as uow:
        assert revoke_key(uow.connection, token.split("_")[1])
    time.sleep(0.3)
    assert client.get(url, headers=bearer(token)).status_code == 401


def test_each_key_has_its_rate_limit_429_with_retry_after(app: Build, db: Any) -> None:
    client = app(rate=0.5, burst=2)
    url = "/v1/users/1/recommendations/discovery"
    first, second = bearer(key_for(db, "a", "lists:read")), bearer(key_for(db, "b", "lists:read"))
    # When one key makes 3 requests at once
    answers = [client.get(url, headers=first) for _ in range(3)]
    # Then the burst passes and the third is told when to come back
    assert [a.status_code for a in answers] == [404, 404, 429]
    assert answers[2].headers["retry-after"] == "2"
    assert "rate limit" in answers[2].json()["detail"]
    # While another key is not held back
    assert client.get(url, headers=second).status_code == 404


def test_request_bodies_over_the_limit_are_413(app: Build, db: Any, two_problems: Any) -> None:
    client = app(max_body_bytes=1024)
    agent = bearer(key_for(db, "alice", "inbox:act"))
    url = f"/v1/inbox/{two_problems[0]}/ack"
    # A body announced too large, and one streamed without a length, are refused
    big = client.post(
        url, content=b"x" * 2000, headers={**agent, "content-type": "application/json"}
    )
    assert big.status_code == 413 and big.json() == {"detail": "request body over 1024 bytes"}
    streamed = client.post(
        url,
        content=iter([b'{"note": "', b"x" * 1500, b'"}']),
        headers={**agent, "content-type": "application/json"},
    )
    assert streamed.status_code == 413
    # And the record is untouched; a body within the limit works
    assert client.post(url, json={"version": 1, "note": "ok"}, headers=agent).status_code == 200


def test_only_an_explicit_setting_opens_the_read_api_and_never_the_inbox(
    app: Build, db: Any
) -> None:
    fallback(db, 0, "discovery", 0, [5, 6])
    url = "/v1/users/1/recommendations/discovery"
    # Given the read API opened for local experiments
    client = app(open_reads=True)
    # Then lists are served without a key, the inbox still needs one
    assert client.get(url).status_code == 200
    assert client.get("/v1/inbox").status_code == 401
    # And a key presented is still checked
    assert client.get(url, headers=bearer("lk_nope")).status_code == 401
    # While by default nothing is open
    assert app().get(url).status_code == 401


def test_docs_and_the_spec_can_be_turned_off(app: Build) -> None:
    served, hidden = app(), app(docs=False)
    assert served.get("/docs").status_code == 200 and served.get("/openapi.json").status_code == 200
    assert hidden.get("/docs").status_code == 404 and hidden.get("/openapi.json").status_code == 404
    assert hidden.get("/healthz").status_code == 200


def test_errors_do_not_reveal_whether_a_user_exists(app: Build, db: Any) -> None:
    client = app()
    key = bearer(key_for(db, "product-web", "lists:read"))
    # Given user 7 is known (a home in city 1) and user 8 is not, and no list nor fallback
    user(db, 7)

    def answer(user_id: int, path: str) -> tuple[int, dict[str, Any]]:
        response = client.get(path.format(user_id), headers=key)
        body = response.json()
        if "user_id" in body:
            body["user_id"] = "N"
        if "detail" in body:
            body["detail"] = body["detail"].replace(f"user {user_id} ", "user N ")
        return response.status_code, body

    # Then every answer about them is the same, but for the id
    for path in (
        "/v1/users/{}/recommendations/discovery",
        "/v1/users/{}/recommendations/items?context=3",
        "/v1/users/{}/cart?items=4",
    ):
        assert answer(7, path) == answer(8, path)
        assert answer(7, path)[0] == 404
    # And with only an every-city fallback, both read it alike
    fallback(db, 0, "discovery", 0, [5, 6])
    assert answer(7, "/v1/users/{}/recommendations/discovery") == answer(
        8, "/v1/users/{}/recommendations/discovery"
    )
