"""The support inbox: `larder inbox` and the HTTP router list records and act on them (ack, assign,
note, silence, resolve), each action on the version the agent saw."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient

from actors.order_checks import apply, sweep_order_checks
from actors.order_checks.silences import expire_silences
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
    return CliRunner().invoke(main, ["inbox", *args])


def test_cli_lists_open_problems_filtered_by_city(two_problems: list[int]) -> None:
    # Given two open problems in cities 1 and 2
    # When an agent lists city 2's open problems as JSON
    result = invoke("list", "--status", "open", "--city", "2", "--json")
    # Then only ORD-2's shows, with what is late and the last events
    assert result.exit_code == 0, result.output
    [problem] = json.loads(result.output)
    assert problem["order_id"] == "ORD-2" and problem["rule"] == "venue_not_accepting"
    assert problem["details"]["overdue_minutes"] == 0.5
    assert problem["details"]["last_events"][0]["type"] == "payment.authorized"
    assert problem["detection_lag_s"] == 30.0
    # And the plain listing shows both, one line each plus their facts
    text = invoke("list").output
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
    assert [p["problem_id"] for p in json.loads(invoke("list", "--json").output)] == [
        two_problems[1]
    ]
    resolved = json.loads(invoke("list", "--status", "resolved", "--json").output)
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
    assert {p["version"] for p in listed.json()} == {1}
    assert client.get("/v1/inbox", params={"city": 1}).json()[0]["order_id"] == "ORD-1"
    # And acknowledges then resolves one (as the key's principal, bob), on the version seen
    ack = client.post(f"/v1/inbox/{first}/ack", json={"version": 1, "note": "on it"})
    assert ack.status_code == 200 and ack.json()["acknowledged_by"] == "bob"
    assert ack.json()["assigned_to"] == "bob" and ack.json()["version"] == 2
    assert [p["problem_id"] for p in client.get("/v1/inbox?status=acknowledged").json()] == [first]
    done = client.post(f"/v1/inbox/{first}/resolve", json={"version": 2})
    assert done.status_code == 200
    assert done.json()["status"] == "resolved" and done.json()["resolution"] == "agent"
    # Then the record shows its history, its rule in words and its order's timeline
    record = client.get(f"/v1/inbox/{first}").json()
    assert [c["change"] for c in record["history"]] == ["opened", "acknowledged", "resolved"]
    assert [c["actor"] for c in record["history"]] == ["larder", "bob", "bob"]
    assert record["history"][1]["note"] == "on it"
    assert "venue has neither accepted" in record["explanation"]
    assert [e["type"] for e in record["timeline"]["happened"]] == [
        "order.created",
        "payment.authorized",
    ]
    expected = {e["what"]: e for e in record["timeline"]["expected"]}
    assert expected["venue.accepted"]["overdue"] is True
    assert expected["venue.accepted"]["by"] == at(5.5).isoformat()
    # And conflicts, unknown ids and bad bodies are refused
    assert client.post(f"/v1/inbox/{first}/resolve", json={"version": 3}).status_code == 409
    assert client.post(f"/v1/inbox/{second}/ack", json={"version": 1}).status_code == 200
    again = client.post(f"/v1/inbox/{second}/ack", json={"version": 2})
    assert again.status_code == 409 and "already acknowledged by bob" in again.json()["detail"]
    assert client.post("/v1/inbox/999/ack", json={"version": 1}).status_code == 404
    assert client.get("/v1/inbox/999").status_code == 404
    bad = [{"version": 2, "agent": "alice"}, {"version": 2, "note": 7}, {}, {"version": 0}]
    for body in bad:
        assert client.post(f"/v1/inbox/{second}/ack", json=body).status_code == 422, body
    assert client.get("/v1/inbox", params={"status": "closed"}).status_code == 422
    assert [p["problem_id"] for p in client.get("/v1/inbox").json()] == [second]
    assert len(client.get("/v1/inbox", params={"status": "all"}).json()) == 2


def test_two_agents_at_once_one_gets_a_conflict_with_the_current_record(
    two_problems: list[int], client: TestClient, db: Any
) -> None:
    first = two_problems[0]
    alice = TestClient(client.app, headers=keyed(db, "alice", "inbox:read", "inbox:act"))
    # Given both agents saw the record at version 1
    assert client.get(f"/v1/inbox/{first}").json()["version"] == 1
    # When alice assigns it to carol, and then bob, still on version 1, resolves it
    assigned = alice.post(f"/v1/inbox/{first}/assign", json={"version": 1, "assignee": "carol"})
    assert assigned.status_code == 200 and assigned.json()["assigned_to"] == "carol"
    stale = client.post(f"/v1/inbox/{first}/resolve", json={"version": 1, "note": "done"})
    # Then bob's action is refused with what changed and the record as it is now
    assert stale.status_code == 409
    body = stale.json()
    assert "changed since you saw it" in body["detail"] and "assigned by alice" in body["detail"]
    assert body["current"]["version"] == 2 and body["current"]["assigned_to"] == "carol"
    assert body["current"]["resolved_at"] is None
    # And nothing of bob's was written: the history has alice's action only
    assert history(db, first) == ["opened", "assigned"]
    # And on the current version, bob's resolve goes through
    assert client.post(f"/v1/inbox/{first}/resolve", json={"version": 2}).status_code == 200


def test_notes_and_assignees_filter_and_show_in_the_history(
    two_problems: list[int], client: TestClient
) -> None:
    first, second = two_problems
    noted = client.post(f"/v1/inbox/{first}/note", json={"version": 1, "note": "venue called"})
    assert noted.status_code == 200 and noted.json()["version"] == 2
    assert client.post(f"/v1/inbox/{first}/note", json={"version": 2}).status_code == 422
    client.post(f"/v1/inbox/{second}/assign", json={"version": 1, "assignee": "dave"})
    # Then the assignee filter finds dave's, '' finds nobody's
    mine = client.get("/v1/inbox", params={"assignee": "dave"}).json()
    assert [p["problem_id"] for p in mine] == [second]
    nobody = client.get("/v1/inbox", params={"assignee": ""}).json()
    assert [p["problem_id"] for p in nobody] == [first]
    changes = client.get(f"/v1/inbox/{second}").json()["history"]
    assert changes[-1]["change"] == "assigned" and changes[-1]["details"] == {"assignee": "dave"}
    assert client.get(f"/v1/inbox/{first}").json()["history"][-1]["note"] == "venue called"


def test_a_silence_hides_the_record_then_a_new_card_opens_if_still_true(
    two_problems: list[int], client: TestClient, db: Any, now: clock.FixedClock
) -> None:
    first, second = two_problems
    # Given an agent silences ORD-1's problem for 10 minutes (at minute 6)
    silenced = client.post(f"/v1/inbox/{first}/silence", json={"version": 1, "minutes": 10})
    assert silenced.status_code == 200
    assert datetime.fromisoformat(silenced.json()["silenced_until"]) == at(16)
    # Then it leaves the open list and shows under silenced
    assert [p["problem_id"] for p in client.get("/v1/inbox").json()] == [second]
    assert [p["problem_id"] for p in client.get("/v1/inbox?status=silenced").json()] == [first]
    # When the silence runs out with the venue still not accepting, and the checks run
    now.set(at(16))
    opened_before = counted("larder_problems_opened_total")
    assert expire_silences() == 1
    sweep_order_checks()
    # Then the old record ended (silenced) and a new card opened for the same trouble, with
    # its `since` (the trouble is as old as it was) and the checks' view of it now
    records = [p for p in problems(db, "venue_not_accepting") if p["order_id"] == "ORD-1"]
    assert [(p["status"], p["resolution"]) for p in records] == [
        ("resolved", "silenced"),
        ("open", None),
    ]
    assert records[1]["since"] == records[0]["since"] and records[1]["opened_at"] == at(16)
    assert records[1]["details"]["overdue_minutes"] == 10.5
    assert history(db, first) == ["opened", "silenced", "unsilenced"]
    assert history(db, records[1]["problem_id"]) == ["opened"]
    reopened = client.get(f"/v1/inbox/{records[1]['problem_id']}").json()["history"][0]
    assert reopened["details"]["after_silence_of"] == first
    # And it is no new detection: nothing counted as opened (no 10-minute "detection lag")
    assert counted("larder_problems_opened_total") == opened_before
    open_ids = {p["problem_id"] for p in client.get("/v1/inbox").json()}
    assert open_ids == {second, records[1]["problem_id"]}


def counted(name: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, {"rule": "venue_not_accepting"}) or 0.0


def test_a_silence_over_a_trouble_that_cleared_leaves_no_new_card(
    two_problems: list[int], client: TestClient, db: Any, now: clock.FixedClock
) -> None:
    first = two_problems[0]
    client.post(f"/v1/inbox/{first}/silence", json={"version": 1, "minutes": 10})
    # When the venue accepts during the silence
    now.set(at(8))
    apply(events(accepted("ORD-1", 3, 8, 30)))
    # Then the record resolved as usual, and the silence's end changes nothing
    now.set(at(16))
    assert expire_silences() == 0
    sweep_order_checks()
    records = [p for p in problems(db, "venue_not_accepting") if p["order_id"] == "ORD-1"]
    assert [(p["status"], p["resolution"]) for p in records] == [("resolved", "condition_cleared")]


def test_cli_assign_note_silence_with_a_stale_version_refused(
    two_problems: list[int], db: Any
) -> None:
    first = two_problems[0]
    assert invoke("assign", str(first), "erin", "--agent", "alice").exit_code == 0
    noted = invoke("note", str(first), "waiting for the venue", "--agent", "alice")
    assert noted.exit_code == 0, noted.output
    stale = invoke("silence", str(first), "--minutes", "5", "--agent", "bob", "--version", "1")
    assert stale.exit_code == 1 and "changed since you saw it" in stale.output
    done = invoke("silence", str(first), "--minutes", "5", "--agent", "bob", "--version", "3")
    assert done.exit_code == 0, done.output
    assert history(db, first) == ["opened", "assigned", "noted", "silenced"]
    shown = json.loads(invoke("show", str(first)).output)
    assert shown["assigned_to"] == "erin" and shown["silenced_by"] == "bob"
    assert shown["timeline"]["expected"][0]["what"] == "venue.accepted"


def test_time_to_acknowledge_and_resolve_are_observed_per_rule(
    two_problems: list[int], client: TestClient, now: clock.FixedClock
) -> None:
    from prometheus_client import REGISTRY

    def count(name: str) -> float:
        found = REGISTRY.get_sample_value(f"{name}_count", {"rule": "venue_not_accepting"})
        return found or 0.0

    before = (
        count("larder_inbox_time_to_acknowledge_seconds"),
        count("larder_inbox_time_to_resolve_seconds"),
    )
    now.set(at(7))
    client.post(f"/v1/inbox/{two_problems[0]}/ack", json={"version": 1})
    client.post(f"/v1/inbox/{two_problems[0]}/resolve", json={"version": 2})
    assert count("larder_inbox_time_to_acknowledge_seconds") == before[0] + 1
    assert count("larder_inbox_time_to_resolve_seconds") == before[1] + 1


def test_agents_racing_on_one_version_one_wins_the_rest_are_refused(
    two_problems: list[int], db: Any
) -> None:
    from store.order_checks import inbox as records

    first = two_problems[0]
    agents = [f"agent-{n}" for n in range(8)]
    outcomes: dict[str, str] = {}
    start = threading.Barrier(len(agents))

    def act(agent: str) -> None:
        # each agent saw version 1, and acts on it at the same moment in its own transaction
        done = records.Act(first, 1, agent, at(7))
        start.wait()
        try:
            with db.unit_of_work() as uow:
                records.assign(uow.connection, done, agent)
            outcomes[agent] = "done"
        except records.StaleVersion as error:
            assert error.current.version == 2
            outcomes[agent] = "stale"

    threads = [threading.Thread(target=act, args=(agent,)) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # Then exactly one assignment applied; the record and its history say whose
    winners = [agent for agent, outcome in outcomes.items() if outcome == "done"]
    assert len(outcomes) == len(agents) and len(winners) == 1
    [record] = [p for p in problems(db) if p["problem_id"] == first]
    assert record["version"] == 2 and record["assigned_to"] == winners[0]
    assert history(db, first) == ["opened", "assigned"]


def test_cli_cards_show_a_late_order_under_its_cause(db: Any, now: clock.FixedClock) -> None:
    # Given a paid order nobody accepts until it runs late as well
    now.set(at(1))
    apply(paid_order("ORD-1"))
    for minute in (6, 30):
        now.set(at(minute))
        sweep_order_checks()
    # When an agent lists the inbox as cards
    cards = json.loads(invoke("list", "--cards", "--json").output)
    text = invoke("list", "--cards").output
    # Then one card: the cause, with running_late attached under it
    assert [(c["rule"], [s["rule"] for s in c["symptoms"]]) for c in cards] == [
        ("venue_not_accepting", ["running_late"])
    ]
    assert cards[0]["symptoms"][0]["muted_by"] == "venue_not_accepting"
    assert "under it: " in text and "muted by venue_not_accepting" in text
    # And without --cards both records are listed, as before
    assert len(json.loads(invoke("list", "--json").output)) == 2
