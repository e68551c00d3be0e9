"""Precomputed lists refreshed by the actor, stored in bulk, read in one lookup."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from actors.recs import refresh_fallbacks, refresh_lists
from domain.recs.items import Basket
from domain.recs.lists import (
    ListRow,
    UserLists,
)
from programs.cli import main
from schemas import InvalidMessage
from store import recs
from tests.integration.store.recs.test_registry import load_history

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def basket(user: int, venue: int, day: int, *items: int) -> Basket:
    return Basket(user, venue, T0 + timedelta(days=day), items, f"{user}-{day}")


def histories(baskets: list[Basket]) -> dict[int, list[Basket]]:
    out: dict[int, list[Basket]] = {}
    for b in baskets:
        out.setdefault(b.user_id, []).append(b)
    return out


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
    out = CliRunner().invoke(
        main, ["recs", "show", "7", "--surface", "items", "--context", "1", "--json"]
    )
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


def test_recs_show_without_a_needed_context_lists_the_users_contexts(trained: Any) -> None:
    # Given user 3's lists refreshed (items lists at the venues of their history)
    refresh_lists.fn({"schema_version": 1, "user_ids": [3]})
    # When items are asked for without a venue
    result = CliRunner().invoke(main, ["recs", "show", "3", "--surface", "items"])
    # Then the command says what it needs and which venues user 3 has lists for
    assert result.exit_code == 0, result.output
    assert "items needs --context (the venue id). User 3 has items lists for contexts: 1" in (
        result.output
    )
    # And a user with no list at all is told so, and why lists may not exist
    nobody = CliRunner().invoke(main, ["recs", "show", "999", "--surface", "category"])
    assert nobody.exit_code == 1 and "has no personal category lists" in nobody.output
