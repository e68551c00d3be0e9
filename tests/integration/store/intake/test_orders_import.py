"""`import_orders` against the real Postgres (the session database, emptied per test)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Engine, text

from domain.intake.orders_csv import BadFile
from store.intake.orders_import import ImportReport, import_orders
from tests.support.paths import INSTACART

HEADER = "order_id,user_id,venue_id,item_id,quantity,placed_at,line_no\n"
SMALL = (
    HEADER
    + "A1,2,10,100,1,2025-01-06T11:00:00Z,1\n"
    + "A1,2,10,101,2,2025-01-06T11:00:00Z,2\n"
    + "A1,2,10,102,1,2025-01-06T11:00:00Z,3\n"
    + "B7,5,11,100,4,2025-01-07T09:30:00+02:00,1\n"
)

ORDERS_TABLE = "SELECT order_id, user_id, venue_id, city_id, placed_at, total, source FROM orders"
LINES_TABLE = "SELECT order_id, line_no, item_id, quantity FROM order_lines"


@pytest.fixture
def engine(db: Any) -> Engine:
    """The session's test database, emptied for this test (see conftest)."""
    return cast(Engine, db.engine)


def write(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "orders.csv"
    path.write_text(content, encoding="utf-8")
    return path


def snapshot(engine: Engine) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with engine.connect() as connection:
        orders = connection.execute(text(ORDERS_TABLE + " ORDER BY order_id")).all()
        lines = connection.execute(text(LINES_TABLE + " ORDER BY order_id, line_no")).all()
    return [tuple(row) for row in orders], [tuple(row) for row in lines]


def test_small_file_is_loaded(engine: Engine, tmp_path: Path) -> None:
    # Given a file with two orders and four lines
    path = write(tmp_path, SMALL)
    # When it is imported
    report = import_orders(engine, path, progress=False)
    # Then everything is new, and the rows are marked as imported with no city or total
    assert report == ImportReport(lines_read=4, orders_read=2, orders_new=2, lines_new=4)
    orders, lines = snapshot(engine)
    assert orders == [
        ("A1", 2, 10, None, datetime(2025, 1, 6, 11, tzinfo=UTC), None, "import"),
        ("B7", 5, 11, None, datetime(2025, 1, 7, 7, 30, tzinfo=UTC), None, "import"),
    ]
    assert lines == [("A1", 1, 100, 1), ("A1", 2, 101, 2), ("A1", 3, 102, 1), ("B7", 1, 100, 4)]


def test_importing_the_same_file_twice_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    # Given a file that has been imported once
    path = write(tmp_path, SMALL)
    import_orders(engine, path, progress=False)
    before = snapshot(engine)
    with engine.connect() as connection:
        loaded_at = connection.execute(text("SELECT order_id, loaded_at FROM orders")).all()
    # When it is imported again
    report = import_orders(engine, path, progress=False)
    # Then nothing new is inserted and the tables (even loaded_at) are unchanged
    assert (report.orders_new, report.lines_new) == (0, 0)
    assert report.lines_read == 4
    assert snapshot(engine) == before
    with engine.connect() as connection:
        assert connection.execute(text("SELECT order_id, loaded_at FROM orders")).all() == (
            loaded_at
        )


def test_a_file_with_one_bad_row_loads_nothing(engine: Engine, tmp_path: Path) -> None:
    # Given a file whose good rows come before and after one bad row (quantity 0 on line 4)
    path = write(
        tmp_path,
        SMALL.replace("A1,2,10,102,1,", "A1,2,10,102,0,"),
    )
    # When it is imported
    with pytest.raises(BadFile) as caught:
        import_orders(engine, path, progress=False)
    # Then the bad line is reported and not even the good rows were loaded
    assert caught.value.problems == [(4, "quantity must be a positive integer, got 0")]
    assert snapshot(engine) == ([], [])


def test_a_file_that_is_not_utf8_is_rejected_with_its_line(engine: Engine, tmp_path: Path) -> None:
    # Given a Latin-1 byte on line 3
    path = tmp_path / "orders.csv"
    path.write_bytes(SMALL.replace("A1,2,10,101", "\xe91,2,10,101").encode("latin-1"))
    # When it is imported Then it is rejected at that line, nothing loaded
    with pytest.raises(BadFile) as caught:
        import_orders(engine, path, progress=False)
    assert [line for line, _ in caught.value.problems] == [3]
    assert snapshot(engine) == ([], [])


def test_an_order_already_present_is_left_untouched(engine: Engine, tmp_path: Path) -> None:
    # Given order A1 already delivered by an order event, with other values and one line
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO orders"
                " (order_id, user_id, venue_id, city_id, placed_at, total, source)"
                " VALUES ('A1', 99, 98, 3, '2024-12-31T00:00:00Z', 4200, 'event')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO order_lines (order_id, line_no, item_id, quantity)"
                " VALUES ('A1', 1, 555, 7)"
            )
        )
    path = write(tmp_path, SMALL)
    # When a file containing A1 (with three lines) and B7 is imported
    report = import_orders(engine, path, progress=False)
    # Then A1 keeps its event values and its single line; only B7 is added
    assert (report.orders_new, report.lines_new) == (1, 1)
    orders, lines = snapshot(engine)
    assert orders == [
        ("A1", 99, 98, 3, datetime(2024, 12, 31, tzinfo=UTC), 4200, "event"),
        ("B7", 5, 11, None, datetime(2025, 1, 7, 7, 30, tzinfo=UTC), None, "import"),
    ]
    assert lines == [("A1", 1, 555, 7), ("B7", 1, 100, 4)]


@pytest.mark.skipif(not INSTACART.exists(), reason=f"{INSTACART} not present")
def test_the_instacart_file_imports_fully(engine: Engine) -> None:
    # Given the real 82,235-line instacart extract (8,575 orders by 306 users)
    # When it is imported, twice
    first = import_orders(engine, INSTACART, progress=False)
    second = import_orders(engine, INSTACART, progress=False)
    # Then every line and order is loaded the first time, and nothing the second time
    assert first == ImportReport(
        lines_read=82_235, orders_read=8_575, orders_new=8_575, lines_new=82_235
    )
    assert second == ImportReport(lines_read=82_235, orders_read=8_575, orders_new=0, lines_new=0)
    with engine.connect() as connection:
        counts = connection.execute(
            text(
                "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM order_lines),"
                " (SELECT count(DISTINCT user_id) FROM orders),"
                " (SELECT count(*) FROM orders WHERE source <> 'import')"
            )
        ).one()
    assert tuple(counts) == (8_575, 82_235, 306, 0)
