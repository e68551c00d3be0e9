"""Model versions: trained from Postgres history, evaluated, stored, switched atomically."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from actors.recs import training
from domain.recs.artefacts import FORMAT, from_bytes, readable
from programs.cli import main
from store.intake.orders_import import import_orders
from store.recs import registry
from tests.conftest import scalar

HEADER = "order_id,user_id,venue_id,item_id,quantity,placed_at\n"


def load_history(db: Any, tmp_path: Path) -> None:
    rows = []
    for user in range(1, 21):
        for week in range(4):
            order = f"U{user}W{week}"
            for item in (user % 4 + 1, 10 + week, 20 + user % 3):
                rows.append(f"{order},{user},1,{item},1,2026-01-{1 + 7 * week:02d}T12:00:00Z")
    path = tmp_path / "history.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n")
    import_orders(db.engine, path, progress=False)


def test_train_stores_an_evaluated_version_and_activates_it(db: Any, tmp_path: Path) -> None:
    # Given order history in Postgres
    load_history(db, tmp_path)
    # When the items model is trained
    result = CliRunner().invoke(main, ["recs", "train"])
    # Then one version exists, active, with offline metrics and a loadable artefact
    assert result.exit_code == 0, result.output
    listed = json.loads(CliRunner().invoke(main, ["recs", "models", "--json"]).output)
    assert len(listed) == 1 and listed[0]["active"] is True
    assert listed[0]["trained_on"] == {"orders": 80, "users": 20}
    assert 0 <= listed[0]["metrics"]["larder items (TIFU + item-item)"]["Recall@10"] <= 1
    with db.unit_of_work(single_statement=True) as uow:
        found = registry.active(uow.connection, "recs")
    assert found is not None and found[0] == listed[0]["version"]
    assert from_bytes(found[1]).items.item_ids.tolist() == [1, 2, 3, 4, 10, 11, 12, 13, 20, 21, 22]


def test_activate_rolls_back_to_a_previous_version_atomically(db: Any, tmp_path: Path) -> None:
    # Given two trained versions, the newer active
    load_history(db, tmp_path)
    CliRunner().invoke(main, ["recs", "train"])
    CliRunner().invoke(main, ["recs", "train"])
    older, newer = sorted(
        json.loads(CliRunner().invoke(main, ["recs", "models", "--json"]).output),
        key=lambda v: v["created_at"],
    )
    assert newer["active"] and not older["active"]
    # When the older one is activated
    result = CliRunner().invoke(main, ["recs", "activate", older["version"]])
    # Then it is the only active version, and both are kept
    assert result.exit_code == 0, result.output
    assert (
        scalar(db, "SELECT string_agg(version, ',') FROM model_versions WHERE active")
        == (older["version"])
    )
    assert scalar(db, "SELECT count(*) FROM model_versions") == 2


def test_activating_an_unknown_version_fails_and_changes_nothing(db: Any, tmp_path: Path) -> None:
    load_history(db, tmp_path)
    CliRunner().invoke(main, ["recs", "train"])
    before = scalar(db, "SELECT version FROM model_versions WHERE active")
    result = CliRunner().invoke(main, ["recs", "activate", "recs-nope"])
    assert result.exit_code == 1 and "no recs model version 'recs-nope'" in result.output
    assert scalar(db, "SELECT version FROM model_versions WHERE active") == before


def execute(db: Any, sql: str, **params: Any) -> None:
    with db.unit_of_work() as uow:
        uow.connection.execute(sql, params or None)


@pytest.fixture
def trainings(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The `train_models` messages the retraining duty sends (recorded, not run)."""
    sent: list[object] = []
    monkeypatch.setattr(training.train_models, "send", lambda: sent.append("train"))
    monkeypatch.setattr(training, "_asked", None)
    monkeypatch.setattr(training, "_readable", {})
    return sent


def test_training_on_too_little_history_stores_nothing_and_says_so(db: Any) -> None:
    # Given an empty database (a fresh install)
    # When the model is trained by hand
    result = CliRunner().invoke(main, ["recs", "train"])
    # Then it exits cleanly, says why, and no version exists, so none is active
    assert result.exit_code == 0, result.output
    assert "not enough order history to train: 0 orders" in result.output
    assert scalar(db, "SELECT count(*) FROM model_versions") == 0
    # And the actor does the same, quietly (nothing to retry)
    training.train_models.fn()
    assert scalar(db, "SELECT count(*) FROM model_versions") == 0


def test_a_fresh_readable_model_is_not_retrained(
    db: Any, tmp_path: Path, trainings: list[object]
) -> None:
    # Given a model trained just now
    load_history(db, tmp_path)
    CliRunner().invoke(main, ["recs", "train"])
    # When the scheduler checks / Then nothing is enqueued
    assert training.retrain_when_due() == 0 and trainings == []


def test_the_first_orders_are_trained_on_once_per_state_of_the_data(
    db: Any, tmp_path: Path, trainings: list[object]
) -> None:
    # Given an empty database / Then nothing is asked for
    assert training.retrain_when_due() == 0
    # Given the first orders / Then training is asked for, once for the same data
    load_history(db, tmp_path)
    assert training.retrain_when_due() == 1 and training.retrain_when_due() == 0
    assert trainings == ["train"]


def test_orders_doubling_since_training_asks_for_a_new_version(
    db: Any, tmp_path: Path, trainings: list[object]
) -> None:
    # Given a model trained on the history so far
    load_history(db, tmp_path)
    CliRunner().invoke(main, ["recs", "train"])
    trained = scalar(db, "SELECT (trained_on ->> 'orders')::int FROM model_versions")
    # When orders grow, but less than twice / Then nothing
    execute(
        db,
        "UPDATE model_versions SET trained_on = jsonb_build_object('orders', "
        "(SELECT count(*) FROM orders) - 1)",
    )
    assert training.retrain_when_due() == 0
    # When they have doubled since the model was trained / Then a new version is asked for
    execute(
        db,
        "UPDATE model_versions SET trained_on = jsonb_build_object('orders', "
        "(SELECT count(*) FROM orders) / 2)",
    )
    assert trained > 2 and training.retrain_when_due() == 1 and trainings == ["train"]


def test_an_old_model_is_retrained(db: Any, tmp_path: Path, trainings: list[object]) -> None:
    load_history(db, tmp_path)
    CliRunner().invoke(main, ["recs", "train"])
    execute(db, "UPDATE model_versions SET created_at = now() - interval '25 hours'")
    assert training.retrain_when_due() == 1 and trainings == ["train"]


def test_a_model_stored_in_an_older_format_is_retrained(
    db: Any, tmp_path: Path, trainings: list[object]
) -> None:
    # Given a fresh active model whose artefact is of a format this code no longer reads
    load_history(db, tmp_path)
    CliRunner().invoke(main, ["recs", "train"])
    with db.unit_of_work(single_statement=True) as uow:
        version, artefact = registry.active(uow.connection, "recs")  # type: ignore[misc]
    header = json.dumps({"format": FORMAT - 1, "params": {}}).encode()
    old = io.BytesIO()
    np.savez(old, header=np.frombuffer(header, dtype=np.uint8))
    execute(
        db,
        "UPDATE model_versions SET artefact = %(a)s WHERE version = %(v)s",
        a=old.getvalue(),
        v=version,
    )
    assert not readable(old.getvalue()) and readable(artefact)
    # When the scheduler checks / Then training is enqueued
    assert training.retrain_when_due() == 1 and trainings == ["train"]
