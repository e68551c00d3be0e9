"""Binary COPY of list rows reads back exactly as written (real Postgres)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from domain.recs.lists import ListRow, UserLists
from store.recs import pgcopy

PERSONAL = ("banners", "brands", "food_categories")
ROWS = [
    ListRow(
        1, "discovery", 0, [5, 2**40, 3], [0.5, -1.25, 3.0], datetime(2026, 3, 1, 12, tzinfo=UTC)
    ),
    ListRow(2**62, "items", 2**33, [9], [1e-7], datetime(2026, 3, 1, 12, 0, 0, 1, tzinfo=UTC)),
    ListRow(1, "category", 7, [], [], datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ListRow(1, "category", 3, [4, 8], [2.0, 1.0], datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ListRow(1, "category", 9, [6], [0.25], datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
]


def test_lists_read_back_packed_per_user_and_surface(db: Any) -> None:
    # Given lists with big ids, an empty list, timestamps on both sides of 2000, and three
    # category lists of one user, not next to each other
    with db.unit_of_work() as uow:
        conn = uow.connection
        conn.execute(
            "CREATE TEMP TABLE t (user_id bigint, surface text, contexts bigint[], bounds int[],"
            " ids bigint[], scores real[], inputs_at timestamptz)"
        )
        # When they are COPied in the binary format
        with conn.cursor().copy("COPY t FROM STDIN (FORMAT binary)") as copy:
            copy.write(pgcopy.encode(UserLists.of_rows(ROWS), users=[3]))
        packed = conn.execute("SELECT * FROM t ORDER BY user_id, surface").fetchall()
        # (each list, as the read slices it)
        lists = conn.execute(
            "SELECT user_id, surface, c, ids[bounds[k] + 1 : bounds[k + 1]],"
            " scores[bounds[k] + 1 : bounds[k + 1]], inputs_at"
            " FROM t, unnest(contexts) WITH ORDINALITY AS u(c, k)"
        ).fetchall()
    # Then there is one row per user and surface, its lists in the order given, stamped with
    # the user's newest input; user 3, refreshed without lists, has an empty row per surface
    # (the three personalised surfaces' included)
    never = datetime(1970, 1, 1, tzinfo=UTC)
    assert [row[:5] + row[6:] for row in packed] == [
        (1, "category", [7, 3, 9], [0, 0, 2, 3], [4, 8, 6], ROWS[0].inputs_at),
        (1, "discovery", [0], [0, 3], [5, 2**40, 3], ROWS[0].inputs_at),
        *[
            (3, surface, [], [0], [], never)
            for surface in sorted(("category", "discovery", "items", *PERSONAL))
        ],
        (2**62, "items", [2**33], [0, 1], [9], ROWS[1].inputs_at),
    ]
    # And every list reads back whole (scores as the real they are stored as)
    assert sorted(row[:4] for row in lists) == sorted(
        (r.user_id, r.surface, r.context, r.ids) for r in ROWS
    )
    for row in lists:
        (source,) = [r for r in ROWS if (r.user_id, r.surface, r.context) == row[:3]]
        assert row[4] == pytest.approx(source.scores, rel=1e-6)
