"""Binary COPY of list rows reads back exactly as written (real Postgres)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from domain.recs.lists import ListRow
from store import pgcopy

ROWS = [
    ListRow(
        1, "discovery", 0, [5, 2**40, 3], [0.5, -1.25, 3.0], datetime(2026, 3, 1, 12, tzinfo=UTC)
    ),
    ListRow(1, "category", 7, [], [], datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ListRow(2**62, "items", 2**33, [9], [1e-7], datetime(2026, 3, 1, 12, 0, 0, 1, tzinfo=UTC)),
]


def test_rows_read_back_as_written(db: Any) -> None:
    # Given list rows with big ids, an empty list, and timestamps on both sides of 2000
    with db.unit_of_work() as uow:
        conn = uow.connection
        conn.execute(
            "CREATE TEMP TABLE t (user_id bigint, surface text, context bigint, ids bigint[],"
            " scores real[], inputs_at timestamptz)"
        )
        # When they are COPied in the binary format
        with conn.cursor().copy("COPY t FROM STDIN (FORMAT binary)") as copy:
            copy.write(pgcopy.list_rows(ROWS))
        back = conn.execute("SELECT * FROM t ORDER BY user_id, context").fetchall()
    # Then every field reads back (scores as the real they are stored as)
    assert [row[:4] + row[5:] for row in back] == [
        (r.user_id, r.surface, r.context, r.ids, r.inputs_at) for r in ROWS
    ]
    assert [row[4] for row in back] == [pytest.approx(r.scores, rel=1e-6) for r in ROWS]
