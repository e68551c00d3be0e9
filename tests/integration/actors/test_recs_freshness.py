"""Lists follow new orders: intake marks the user dirty, a sweep enqueues one refresh."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from actors.recs import sweep_changed_users
from domain.recs.artefacts import to_bytes
from domain.recs.bundle import train
from domain.recs.items import Basket
from programs.cli import main
from store import recs
from store.recs import registry
from tests.conftest import scalar, wait_for
from tests.integration.actors.test_intake import drain, send
from tests.integration.store.recs.test_registry import load_history
from tests.support.factories import activity, batch, order
from workers import queues


@pytest.fixture
def a_model(db: Any) -> str:
    """An active model version (trained on two users' orders at venue 1), so that the sweep
    has something to refresh with (without one it leaves the marks for the first model)."""
    baskets = [
        Basket(900 + u, 1, datetime(2026, 1, d, tzinfo=UTC), (10, 11), f"m{u}-{d}")
        for u in (1, 2)
        for d in (1, 2)
    ]
    with db.unit_of_work() as uow:
        registry.save(uow.connection, "recs-test", "recs", to_bytes(train(baskets)), {}, {})
        registry.activate(uow.connection, "recs", "recs-test")
    return "recs-test"


def test_without_a_model_the_sweep_leaves_the_marks_for_the_first_one(
    broker: Any, worker: Any, db: Any
) -> None:
    send(broker, order("o1", order_id="O1", user_id=4))
    drain(broker, worker)
    assert sweep_changed_users() == 0
    assert scalar(db, "SELECT count(*) FROM user_changes WHERE user_id = 4") == 1


def test_bursts_of_orders_coalesce_into_one_refresh(
    broker: Any, worker: Any, db: Any, a_model: str
) -> None:
    # Given ten orders of one user in a second, plus a duplicate of one of them
    orders = [
        order(f"o{i}", order_id=f"O{i}", user_id=4, placed_at=f"2026-02-01T12:00:0{i}Z")
        for i in range(10)
    ]
    send(broker, batch(orders[:5]))
    send(broker, batch(orders[5:]))
    send(broker, orders[3])
    drain(broker, worker)
    # Then each message with new orders logged one change for the user (the duplicate none) ...
    assert scalar(db, "SELECT count(*) FROM user_changes WHERE user_id = 4") == 2
    # ... and one sweep turns them into one refresh of the user
    assert sweep_changed_users() == 1
    assert scalar(db, "SELECT count(*) FROM user_changes") == 0


def test_activity_marks_the_user_changed_once_per_message(
    broker: Any, worker: Any, db: Any, a_model: str
) -> None:
    # Given three activity events of user 8 in one batch, and one delivered twice
    events = [activity(f"act-{i}", user_id=8, venue_id=1) for i in range(3)]
    send(broker, batch(events))
    send(broker, events[0])
    drain(broker, worker)
    # Then the batch logged one change for the user, the duplicate none
    assert scalar(db, "SELECT count(*) FROM user_changes WHERE user_id = 8") == 1
    assert sweep_changed_users() == 1


def test_sweep_refreshes_the_users_lists_after_a_new_order(
    broker: Any, worker: Any, db: Any, tmp_path: Path
) -> None:
    # Given a trained model and user 3's lists computed from January's history
    load_history(db, tmp_path)
    CliRunner().invoke(main, ["recs", "train"])
    CliRunner().invoke(main, ["recs", "refresh", "3"])
    broker.join(queues.name(queues.RECS), min_successes=5, idle_time=50, timeout=30_000)
    worker.join()
    assert str(scalar(db, "SELECT inputs_at FROM recommendations WHERE user_id = 3")).startswith(
        "2026-01-22"
    )
    # When a new order of user 3 arrives and the scheduler sweeps once
    send(broker, order("late", order_id="LATE-3", user_id=3, placed_at="2026-03-01T10:00:00Z"))
    drain(broker, worker)
    assert scalar(db, "SELECT count(*) FROM user_changes") == 1
    sweep_changed_users()
    # Then the mark is gone and the list is recomputed from the new input
    assert scalar(db, "SELECT count(*) FROM user_changes") == 0
    wait_for(
        lambda: str(
            scalar(db, "SELECT inputs_at FROM recommendations WHERE user_id = 3")
        ).startswith("2026-03-01"),
        timeout=30,
    )
    with db.unit_of_work(single_statement=True) as uow:
        found = recs.read(uow.connection, 3, "items", 1)
    assert found is not None and not found.fallback


def test_lists_older_than_the_ttl_are_refreshed(
    broker: Any, worker: Any, db: Any, tmp_path: Path
) -> None:
    # Given user 6's list computed long ago and user 7's just now
    from actors.recs import refresh_stale_lists

    load_history(db, tmp_path)
    CliRunner().invoke(main, ["recs", "train"])
    CliRunner().invoke(main, ["recs", "refresh", "6", "7"])
    broker.join(queues.name(queues.RECS), min_successes=5, idle_time=50, timeout=30_000)
    worker.join()
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE recommendations SET computed_at = now() - interval '2 days' WHERE user_id = 6"
        )
    # When the scheduled duty runs
    # Then user 6 (stale) and the 18 users of the history who never had a list are enqueued,
    # not user 7 (fresh)
    assert refresh_stale_lists() == 19
    # And user 6 now reads fresh
    wait_for(
        lambda: (
            scalar(
                db,
                "SELECT count(*) FROM recommendations WHERE computed_at < now() - interval '1 day'",
            )
            == 0
        ),
        timeout=30,
    )
    with db.unit_of_work(single_statement=True) as uow:
        found = recs.read(uow.connection, 6, "items", 1)
    assert found is not None and not found.fallback
