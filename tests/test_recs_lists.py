"""Items lists: built per user and venue (pure), stored, and read in one lookup."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from actors.recs import refresh_fallbacks, refresh_items
from domain.recs.items import Basket, train
from domain.recs.lists import items_fallbacks, items_lists, relevant_venues
from schemas import InvalidMessage
from store import recs
from tests.test_model_registry import load_history
from workers.cli import main

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def basket(user: int, venue: int, day: int, *items: int) -> Basket:
    return Basket(user, venue, T0 + timedelta(days=day), items, f"{user}-{day}")


def test_relevant_venues_are_the_users_most_recent_first() -> None:
    history = [basket(1, 5, 0, 1), basket(1, 6, 1, 2), basket(1, 5, 2, 1), basket(1, 7, 3, 3)]
    assert relevant_venues(history, 10) == [7, 5, 6]
    assert relevant_venues(history, 2) == [7, 5]


def test_items_lists_rank_each_venue_s_items_for_each_user() -> None:
    # Given two venues with distinct menus and a user who ordered at both
    history = [basket(1, 5, d, 1, 2) for d in range(3)] + [basket(1, 6, 4, 10)]
    history += [basket(2, 5, d, 2, 3) for d in range(3)]
    model = train(history)
    # When lists are built
    rows = items_lists(model, "v1", {1: history[:4], 2: history[4:]}, k=5)
    # Then there is one list per user and venue, holding only that venue's items
    by_key = {(r["user_id"], r["context"]): r for r in rows}
    assert set(by_key) == {(1, 5), (1, 6), (2, 5)}
    assert set(by_key[(1, 5)]["ids"][:2]) == {1, 2} and set(by_key[(1, 5)]["ids"]) <= {1, 2, 3}
    assert by_key[(1, 6)]["ids"] == [10]
    assert by_key[(1, 5)]["inputs_at"] == (T0 + timedelta(days=4)).isoformat()
    # And fallbacks list each venue's popular items
    fallbacks = {r["context"]: r["ids"] for r in items_fallbacks(model, "v1")}
    assert fallbacks == {5: [2, 1, 3], 6: [10]}


@pytest.fixture
def trained(db: Any, tmp_path: Path) -> Any:
    load_history(db, tmp_path)
    assert CliRunner().invoke(main, ["train"]).exit_code == 0
    return db


def read(db: Any, user: int, venue: int) -> Any:
    with db.unit_of_work(single_statement=True) as uow:
        return recs.read(uow.connection, user, "items", venue)


def test_refresh_then_read_returns_the_personal_list(trained: Any) -> None:
    # Given a trained model and users 1..20 with history at venue 1
    # When user 3's lists are refreshed
    refresh_items.fn({"schema_version": 1, "user_ids": [3]})
    # Then the read is one personal list led by the user's repeat item
    found = read(trained, 3, 1)
    assert found is not None and not found.fallback
    assert set(found.ids[:2]) == {3 % 4 + 1, 20 + 3 % 3}  # bought every week
    assert found.model_version.startswith("items-")


def test_cold_user_reads_the_venue_fallback_flagged(trained: Any) -> None:
    # Given fallbacks stored, and a user with no list
    assert refresh_fallbacks() == 1
    # When read / Then it is the venue's popular list, flagged as fallback
    found = read(trained, 999, 1)
    assert found is not None and found.fallback and len(found.ids) == 11
    # And with no fallback for an unknown venue there is nothing to read
    assert read(trained, 999, 42) is None


def test_a_list_from_older_inputs_never_overwrites_a_newer_one(trained: Any) -> None:
    refresh_items.fn({"schema_version": 1, "user_ids": [5]})
    newest = read(trained, 5, 1)
    # When a late recompute from older inputs arrives
    stale = {
        "user_id": 5,
        "surface": "items",
        "context": 1,
        "ids": [99],
        "scores": [1.0],
        "model_version": "old",
        "inputs_at": "2020-01-01T00:00:00+00:00",
    }
    with trained.unit_of_work(single_statement=True) as uow:
        assert recs.write_lists(uow.connection, [stale]) == 0
    # Then the stored list is unchanged
    assert read(trained, 5, 1) == newest


def test_invalid_refresh_job_is_rejected_not_retried(trained: Any) -> None:
    with pytest.raises(InvalidMessage, match="user_ids"):
        refresh_items.fn({"schema_version": 1, "user_ids": []})


def test_cli_refresh_and_recs(trained: Any, broker: Any, worker: Any) -> None:
    # When every user's lists are refreshed through the queue
    result = CliRunner().invoke(main, ["refresh", "items", "--all", "--chunk", "7"])
    assert result.exit_code == 0, result.output
    assert "enqueued 3 jobs for 20 users" in result.output
    from workers import queues

    broker.join(queues.name(queues.RECS), min_successes=5, idle_time=50, timeout=60_000)
    worker.join()
    # Then `larder recs` reads a personal list as JSON
    out = CliRunner().invoke(main, ["recs", "7", "--context", "1", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["fallback"] is False
