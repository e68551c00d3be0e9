"""The unit of work runs its after-commit hooks once the transaction has committed, and never
when it rolls back (enqueue after commit)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import scalar


def test_hooks_run_after_the_commit_and_see_its_rows(db: Any) -> None:
    seen: list[int] = []
    # Given a transaction that writes a row and registers a hook
    with db.unit_of_work() as uow:
        uow.connection.execute("INSERT INTO user_changes (user_id) VALUES (42)")
        uow.after_commit(lambda: seen.append(scalar(db, "SELECT count(*) FROM user_changes")))
        # Then the hook has not run inside the transaction
        assert seen == []
    # And it ran once the row was committed (another connection sees it)
    assert seen == [1]


def test_hooks_never_run_when_the_transaction_rolls_back(db: Any) -> None:
    seen: list[str] = []
    with pytest.raises(RuntimeError), db.unit_of_work() as uow:
        uow.connection.execute("INSERT INTO user_changes (user_id) VALUES (42)")
        uow.after_commit(lambda: seen.append("sent"))
        raise RuntimeError("bug")
    assert seen == [] and scalar(db, "SELECT count(*) FROM user_changes") == 0
