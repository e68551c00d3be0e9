"""A refresh never loses a user: one whose lists cannot be computed (a bug in a ranker, or no
model yet) is marked due again later, while the others' lists are written; and the first model
brings lists to the users whose refreshes came before it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import domain.recs.lists as lists_module
from actors.recs import REFRESH_FAILURES, refresh_lists, training
from domain.recs.surfaces.base import Batch
from programs.cli import main
from tests.conftest import scalar
from tests.integration.store.recs.test_registry import load_history


def due_later(db: Any) -> list[int]:
    sql = "SELECT user_id FROM user_changes WHERE due_at > now() ORDER BY user_id"
    with db.engine.connect() as conn:
        return [row[0] for row in conn.exec_driver_sql(sql)]


def users_with_lists(db: Any) -> list[int]:
    with db.engine.connect() as conn:
        sql = "SELECT DISTINCT user_id FROM recommendations ORDER BY 1"
        return [row[0] for row in conn.exec_driver_sql(sql)]


@pytest.fixture
def broken_for_user_7(monkeypatch: pytest.MonkeyPatch) -> None:
    """The items ranker raises whenever user 7 is in its batch (a bug for one user)."""
    stored = list(lists_module.STORED)
    items = next(s for s in stored if s.name == "items")
    assert items.rank is not None
    rank = items.rank

    def buggy(batch: Batch) -> Any:
        if 7 in batch.histories:
            raise ZeroDivisionError("a bug that only user 7's history triggers")
        return rank(batch)

    stored[stored.index(items)] = dataclasses.replace(items, rank=buggy)
    monkeypatch.setattr(lists_module, "STORED", tuple(stored))


def test_a_bug_for_one_user_costs_that_user_a_retry_not_the_job(
    db: Any, tmp_path: Path, broken_for_user_7: None
) -> None:
    # Given a trained model, and a ranker that fails for user 7 only
    load_history(db, tmp_path)
    assert CliRunner().invoke(main, ["recs", "train"]).exit_code == 0
    failures = REFRESH_FAILURES._value.get()
    # When a job of users 1..20 is refreshed
    refresh_lists.fn({"schema_version": 1, "user_ids": list(range(1, 21))})
    # Then the 19 others have their lists, user 7 has none and is due for a refresh later
    assert users_with_lists(db) == [u for u in range(1, 21) if u != 7]
    assert due_later(db) == [7]
    assert REFRESH_FAILURES._value.get() == failures + 1
    # And nothing was dead-lettered: the job itself succeeded
    assert scalar(db, "SELECT count(*) FROM rejected_messages") == 0


def test_without_a_model_users_are_kept_due_and_the_first_model_refreshes_them(
    db: Any, tmp_path: Path, broker: Any, worker: Any
) -> None:
    from tests.conftest import wait_for

    # Given orders but no model (a fresh install that was just seeded)
    load_history(db, tmp_path)
    # When a refresh runs before any model exists
    refresh_lists.fn({"schema_version": 1, "user_ids": [3, 4]})
    # Then nothing is written, and the users are due again later (not lost)
    assert users_with_lists(db) == [] and due_later(db) == [3, 4]
    # When the first model is trained by the actor the scheduler sends
    training.train_models.fn()
    # Then every known user without a list gets one, without waiting for a TTL
    wait_for(lambda: users_with_lists(db) == list(range(1, 21)), timeout=60)
