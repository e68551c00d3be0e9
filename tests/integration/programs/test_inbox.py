"""The support inbox: `larder order-checks inbox` and the HTTP router list, acknowledge and resolve records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient

from actors.order_checks import apply, sweep_order_checks
from programs.cli import main
from programs.http.app import access_from_settings
from programs.http.inbox import inbox_router
from tests.integration.actors.test_order_checks import (
    accepted,
    events,
    history,
    paid_order,
    problems,
)
from tests.support.api import keyed
from tests.support.order_events import T0, at, raw
from workers import clock


@pytest.fixture
def now(db: Any) -> Iterator[clock.FixedClock]:
    fixed = clock.FixedClock(T0)
    with clock.use(fixed):
        yield fixed


@pytest.fixture
def two_problems(db: Any, now: clock.FixedClock) -> list[int]:
    """venue_not_accepting open for ORD-1 (city 1) and ORD-2 (city 2); ids in that order."""
    now.set(at(1))
    apply(paid_order("ORD-1") + paid_order("ORD-2", venue_id=20, city_id=2))
    now.set(at(6))
    sweep_order_checks()
    return [p["problem_id"] for p in problems(db, "venue_not_accepting")]


@pytest.fixture
def client(db: Any) -> TestClient:
    """The inbox router, called with agent bob's API key (inbox:read, inbox:act)."""
    app = FastAPI()
    app.include_router(inbox_router(db))
    app.state.access = access_from_settings(db)
    return TestClient(app, headers=keyed(db, "bob", "inbox:read", "inbox:act"))


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, ["order-checks", *args])


def test_cli_lists_open_problems_filtered_by_city(two_problems: list[int]) -> None:
    # Given two open problems in cities 1 and 2
    # When an agent lists city 2's open problems as JSON
    result = invoke("inbox", "--status", "open", "--city", "2", "--json")
    # Then only ORD-2's shows, with what is late and the last events
    assert result.exit_code == 0, result.output
    [problem] = json.loads(result.output)
    assert problem["order_id"] == "ORD-2" and problem["rule"] == "venue_not_accepting"
    assert problem["details"]["overdue_minutes"] == 0.5
    assert problem["details"]["last_events"][0]["type"] == "payment.authorized"
    assert problem["detection_lag_s"] == 30.0
    # And the plain listing shows both, one line each plus their facts
    text = invoke("inbox").output
    assert "venue_not_accepting" in text and "order ORD-1" in text and "order ORD-2" in text


def test_cli_ack_then_resolve_keeps_the_history(two_problems: list[int], db: Any) -> None:
    first = two_problems[0]
    # When an agent acknowledges, then resolves the first problem
    ack = invoke("ack", str(first), "--agent", "alice", "--note", "calling the venue")
    done = invoke("resolve", str(first), "--agent", "alice", "--note", "venue called")
    # Then both succeed and the record and its history say who did what
    assert ack.exit_code == 0, ack.output
    assert done.exit_code == 0, done.output
    assert "acknowledged by alice" in ack.output and "resolved by alice" in done.output
    [record] = [p for p in problems(db) if p["problem_id"] == first]
    assert record["status"] == "resolved" and record["resolution"] == "agent"
    assert record["acknowledged_by"] == "alice" and record["resolved_by"] == "alice"
    assert history(db, first) == ["opened", "acknowledged", "resolved"]
    # And it is gone from the open list, but listed as resolved
    assert [p["problem_id"] for p in json.loads(invoke("inbox", "--json").output)] == [
        two_problems[1]
    ]
    resolved = json.loads(invoke("inbox", "--status", "resolved", "--json").output)
    assert [p["problem_id"] for p in resolved] == [first]
    # And acting on it again is refused
    again = invoke("resolve", str(first), "--agent", "bob")
    assert again.exit_code == 1 and "already resolved" in again.output
    assert invoke("ack", "999", "--agent", "bob").exit_code == 1


def test_a_problem_resolved_by_an_agent_is_not_reopened_while_it_lasts(
    two_problems: list[int], db: Any, now: clock.FixedClock
) -> None:
    # Given an agent resolved ORD-1's problem while the venue still has not accepted
    invoke("resolve", str(two_problems[0]), "--agent", "alice")
    # When the checks look at the order again
    now.set(at(8))
    apply(events(raw("courier.assigned", 3, 7.5)))
    sweep_order_checks()
    # Then no new record opened; once the venue accepts, the episode ends
    assert len(problems(db, "venue_not_accepting")) == 2
    apply(events(accepted("ORD-1", 4, 8, 30)))
    assert history(db, two_problems[0]) == ["opened", "resolved", "ended"]


def test_http_lists_acknowledges_and_resolves(two_problems: list[int], client: TestClient) -> None:
    first, second = two_problems
    # When an agent lists open problems over HTTP
    listed = client.get("/v1/inbox", params={"status": "open"})
    assert listed.status_code == 200
    assert {p["problem_id"] for p in listed.json()} == {first, second}
    assert client.get("/v1/inbox", params={"city": 1}).json()[0]["order_id"] == "ORD-1"
    # And acknowledges then resolves one (as the key's principal, bob)
    ack = client.post(f"/v1/inbox/{first}/ack", json={"note": "on it"})
    assert ack.status_code == 200 and ack.json()["acknowledged_by"] == "bob"
    done = client.post(f"/v1/inbox/{first}/resolve", json={})
    assert done.status_code == 200
    assert done.json()["status"] == "resolved" and done.json()["resolution"] == "agent"
    # Then the record shows its history
    record = client.get(f"/v1/inbox/{first}").json()
    assert [c["change"] for c in record["history"]] == ["opened", "acknowledged", "resolved"]
    assert record["history"][1]["note"] == "on it"
    # And conflicts, unknown ids and bad bodies are refused
    assert client.post(f"/v1/inbox/{first}/resolve", json={}).status_code == 409
    assert client.post(f"/v1/inbox/{second}/ack", json={}).status_code == 200
    assert client.post(f"/v1/inbox/{second}/ack", json={}).status_code == 409
    assert client.post("/v1/inbox/999/ack", json={}).status_code == 404
    assert client.get("/v1/inbox/999").status_code == 404
    assert client.post(f"/v1/inbox/{second}/ack", json={"agent": "alice"}).status_code == 422
    assert client.post(f"/v1/inbox/{second}/ack", json={"note": 7}).status_code == 422
    assert client.get("/v1/inbox", params={"status": "closed"}).status_code == 422
    assert [p["problem_id"] for p in client.get("/v1/inbox").json()] == [second]
    assert len(client.get("/v1/inbox", params={"status": "all"}).json()) == 2


def test_cli_cards_show_a_late_order_under_its_cause(db: Any, now: clock.FixedClock) -> None:
    # Given a paid order nobody accepts until it runs late as well
    now.set(at(1))
    apply(paid_order("ORD-1"))
    for minute in (6, 30):
        now.set(at(minute))
        sweep_order_checks()
    # When an agent lists the inbox as cards
    cards = json.loads(invoke("inbox", "--cards", "--json").output)
    text = invoke("inbox", "--cards").output
    # Then one card: the cause, with running_late attached under it
    assert [(c["rule"], [s["rule"] for s in c["symptoms"]]) for c in cards] == [
        ("venue_not_accepting", ["running_late"])
    ]
    assert cards[0]["symptoms"][0]["muted_by"] == "venue_not_accepting"
    assert "under it: " in text and "muted by venue_not_accepting" in text
    # And without --cards both records are listed, as before
    assert len(json.loads(invoke("inbox", "--json").output)) == 2
