"""Bulk-load order history from a CSV file (`larder intake import FILE.csv`).

The whole file is validated first (domain.intake.orders_csv); a bad file raises BadFile and the
database is not touched. A good file is loaded in one transaction: COPY into temporary staging
tables, then INSERT ... SELECT into `orders` / `order_lines` with ON CONFLICT DO NOTHING, so
importing the same file again changes nothing and rows that are already there (from earlier
imports or from order events) are left exactly as they are.

Lines are only added to orders this import creates (as INSERT_ORDERS in store.intake.queries does for
events): an order that already exists keeps its lines, even if the file lists more of them.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine
from tqdm import tqdm

from domain.intake.orders_csv import BadFile, ParsedOrders, parse_order_lines

CREATE_STAGED_ORDERS = """
    CREATE TEMP TABLE staged_orders (
        order_id text NOT NULL,
        user_id bigint NOT NULL,
        venue_id bigint NOT NULL,
        placed_at timestamptz NOT NULL
    ) ON COMMIT DROP
"""

CREATE_STAGED_LINES = """
    CREATE TEMP TABLE staged_lines (
        order_id text NOT NULL,
        line_no int NOT NULL,
        item_id bigint NOT NULL,
        quantity int NOT NULL
    ) ON COMMIT DROP
"""

COPY_STAGED_ORDERS = "COPY staged_orders (order_id, user_id, venue_id, placed_at) FROM STDIN"

COPY_STAGED_LINES = "COPY staged_lines (order_id, line_no, item_id, quantity) FROM STDIN"

# Rows are inserted in key order so two concurrent imports lock in the same order.
MERGE_STAGED = """
    WITH new_orders AS (
        INSERT INTO orders (order_id, user_id, venue_id, city_id, placed_at, total, source)
        SELECT order_id, user_id, venue_id, NULL, placed_at, NULL, 'import'
        FROM staged_orders
        ORDER BY order_id
        ON CONFLICT (order_id) DO NOTHING
        RETURNING order_id
    ), new_lines AS (
        INSERT INTO order_lines (order_id, line_no, item_id, quantity)
        SELECT s.order_id, s.line_no, s.item_id, s.quantity
        FROM staged_lines s JOIN new_orders USING (order_id)
        ORDER BY s.order_id, s.line_no
        ON CONFLICT (order_id, line_no) DO NOTHING
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM new_orders), (SELECT count(*) FROM new_lines)
"""

PROGRESS_STEP = 5_000


@dataclass(frozen=True)
class ImportReport:
    lines_read: int  # order lines in the file
    orders_read: int  # distinct orders in the file
    orders_new: int  # orders inserted (the rest were already present)
    lines_new: int  # order lines inserted


def import_orders(engine: Engine, path: Path, progress: bool | None = None) -> ImportReport:
    """Validate the whole file, then load it in one transaction.

    Raises BadFile (nothing loaded) if any row is bad. `progress=None` shows progress bars only
    when stderr is a terminal.
    """
    show = sys.stderr.isatty() if progress is None else progress
    parsed = read_orders_file(path, show)
    with engine.begin() as connection:
        raw = connection.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        orders_new, lines_new = _load(raw, parsed, show)
    return ImportReport(len(parsed.lines), len(parsed.orders), orders_new, lines_new)


def read_orders_file(path: Path, progress: bool = False) -> ParsedOrders:
    """Read and validate the file (UTF-8, optional BOM); raises BadFile."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise BadFile([(line, f"not valid UTF-8 (byte {error.start})")]) from None
    lines: Iterable[str] = io.StringIO(text, newline="")
    if progress:
        lines = tqdm(lines, total=text.count("\n"), desc="checking", unit=" lines")
    return parse_order_lines(lines)


def _load(raw: psycopg.Connection, parsed: ParsedOrders, progress: bool) -> tuple[int, int]:
    with raw.cursor() as cursor:
        cursor.execute(CREATE_STAGED_ORDERS)
        cursor.execute(CREATE_STAGED_LINES)
        with tqdm(
            total=len(parsed.orders) + len(parsed.lines),
            desc="loading",
            unit=" rows",
            disable=not progress,
        ) as bar:
            _copy(cursor, COPY_STAGED_ORDERS, parsed.orders, bar)
            _copy(cursor, COPY_STAGED_LINES, parsed.lines, bar)
            bar.set_description("inserting")  # the last, longest step shows no progress of its own
            cursor.execute(MERGE_STAGED)
            counts = cursor.fetchone()
    assert counts is not None
    return int(counts[0]), int(counts[1])


def _copy(
    cursor: psycopg.Cursor[tuple[object, ...]],
    statement: str,
    rows: Sequence[tuple[object, ...]],
    bar: tqdm[Any],
) -> None:
    with cursor.copy(statement) as copy:
        for start in range(0, len(rows), PROGRESS_STEP):
            chunk = rows[start : start + PROGRESS_STEP]
            for row in chunk:
                copy.write_row(row)
            bar.update(len(chunk))
