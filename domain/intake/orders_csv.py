"""Parse and validate an order-history CSV for `larder intake import` (pure).

The file is all-or-nothing: every row is checked and every problem collected before anything
is loaded, so an operator can fix the whole file in one pass. Rows come back already split into
order headers and order lines, which is the shape the loader copies into Postgres.

Header (exactly, in this order): order_id,user_id,venue_id,item_id,quantity,placed_at[,line_no]
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

BIGINT_MAX = 2**63 - 1
ORDER_ID_MAX_LEN = 64
QUANTITY_MAX = 999
LINE_NO_MAX = 10_000
SHOWN_PROBLEMS = 50

COLUMNS = ("order_id", "user_id", "venue_id", "item_id", "quantity", "placed_at")
COLUMNS_WITH_LINE_NO = (*COLUMNS, "line_no")

Problem = tuple[int, str]  # (1-based file line number, reason)


class OrderHeader(NamedTuple):
    order_id: str
    user_id: int
    venue_id: int
    placed_at: datetime


class OrderLine(NamedTuple):
    order_id: str
    line_no: int
    item_id: int
    quantity: int


@dataclass(frozen=True)
class ParsedOrders:
    """A validated file: one header per order (first-seen order) and every line, in file order."""

    orders: list[OrderHeader]
    lines: list[OrderLine]


class BadFile(Exception):
    """The file cannot be imported; `problems` holds every (line number, reason) found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.problems = problems

    def __str__(self) -> str:
        shown = [f"line {line}: {reason}" for line, reason in self.problems[:SHOWN_PROBLEMS]]
        more = len(self.problems) - SHOWN_PROBLEMS
        if more > 0:
            shown.append(f"... and {more} more")
        return "\n".join(shown)


class _Row(NamedTuple):
    """One syntactically valid data row, before the cross-row checks."""

    file_line: int
    order: OrderHeader
    item_id: int
    quantity: int
    line_no: int | None


def parse_order_lines(lines: Iterable[str]) -> ParsedOrders:
    """Parse the CSV text lines (header first; as from a file opened with newline="").

    Raises BadFile listing every problem; blank lines are ignored.
    """
    problems: list[Problem] = []
    records = _records(lines, problems)
    header = next(records, None)
    if header is None:
        raise BadFile([(1, f"empty file; expected header {','.join(COLUMNS_WITH_LINE_NO)}")])
    has_line_no = _check_header(header[1], problems)
    if problems:  # without a usable header the rows cannot be interpreted
        raise BadFile(problems)

    rows: list[_Row] = []
    timestamps: dict[str, datetime | str] = {}  # most files repeat one timestamp per order
    for file_line, fields in records:
        row_or_reason = _parse_row(file_line, fields, has_line_no, timestamps)
        if isinstance(row_or_reason, str):
            problems.append((file_line, row_or_reason))
        else:
            rows.append(row_or_reason)

    parsed = _assemble(rows, problems)
    if problems:
        problems.sort(key=lambda problem: problem[0])
        raise BadFile(problems)
    return parsed


def _records(lines: Iterable[str], problems: list[Problem]) -> Iterator[tuple[int, list[str]]]:
    """Non-blank CSV records with the file line each starts on; unreadable ones become problems.

    A quoted field may span lines, so the start line is tracked rather than counted per record.
    """
    reader = csv.reader(lines, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            problems.append((start, f"malformed CSV: {error}"))
            continue
        if fields:
            yield start, fields


def _check_header(fields: list[str], problems: list[Problem]) -> bool:
    """Whether the file has a line_no column; a wrong header is recorded as a problem."""
    if len(fields) > 0:
        fields = [fields[0].removeprefix("\ufeff"), *fields[1:]]
    if tuple(fields) == COLUMNS_WITH_LINE_NO:
        return True
    if tuple(fields) != COLUMNS:
        problems.append(
            (
                1,
                f"header must be exactly {','.join(COLUMNS)}[,line_no]; got {','.join(fields)}",
            )
        )
    return False


def _parse_row(
    file_line: int,
    fields: list[str],
    has_line_no: bool,
    timestamps: dict[str, datetime | str],
) -> _Row | str:
    """The row, or the reason it is bad (every bad field of the row, joined with "; ")."""
    expected = len(COLUMNS_WITH_LINE_NO) if has_line_no else len(COLUMNS)
    if len(fields) != expected:
        return f"expected {expected} fields, got {len(fields)}"
    order_id, user_id, venue_id, item_id, quantity, placed_at = fields[:6]
    id_problem = _order_id(order_id)
    user = _integer("user_id", user_id, BIGINT_MAX)
    venue = _integer("venue_id", venue_id, BIGINT_MAX)
    item = _integer("item_id", item_id, BIGINT_MAX)
    qty = _integer("quantity", quantity, QUANTITY_MAX)
    when = _cached_timestamp(placed_at, timestamps)
    line_no = _integer("line_no", fields[6], LINE_NO_MAX) if has_line_no else None
    if (
        id_problem is None
        and isinstance(user, int)
        and isinstance(venue, int)
        and isinstance(item, int)
        and isinstance(qty, int)
        and isinstance(when, datetime)
        and not isinstance(line_no, str)
    ):
        return _Row(file_line, OrderHeader(order_id, user, venue, when), item, qty, line_no)
    values = (id_problem, user, venue, item, qty, when, line_no)
    return "; ".join(value for value in values if isinstance(value, str))


def _order_id(text: str) -> str | None:
    """None when valid (order ids are opaque and kept verbatim), else the reason."""
    if not text:
        return "order_id is empty"
    if len(text) > ORDER_ID_MAX_LEN:
        return f"order_id is longer than {ORDER_ID_MAX_LEN} characters"
    if "\x00" in text:
        return "order_id contains a NUL character"
    return None


def _integer(name: str, text: str, maximum: int) -> int | str:
    """A decimal integer in 1..maximum, or the reason it is not (no signs, spaces or `_`):
    ids, quantities and line numbers are all positive."""
    if not (text.isascii() and text.isdigit()):
        return f"{name} must be a positive integer, got {_short(text)!r}"
    try:
        value = int(text)
    except ValueError:  # more digits than int() will convert
        value = maximum + 1
    if value < 1:
        return f"{name} must be a positive integer, got {_short(text)}"
    if value > maximum:
        return f"{name} must be at most {maximum}, got {_short(text)}"
    return value


def _cached_timestamp(text: str, cache: dict[str, datetime | str]) -> datetime | str:
    result = cache.get(text)
    if result is None:
        result = cache[text] = _timestamp(text)
    return result


def _timestamp(text: str) -> datetime | str:
    """An ISO-8601 timestamp that carries its offset (or Z); a naive one is ambiguous."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return f"placed_at must be an ISO-8601 timestamp, got {_short(text)!r}"
    if value.utcoffset() is None:
        return f"placed_at needs a UTC offset or Z, got {_short(text)!r}"
    return value


def _assemble(rows: list[_Row], problems: list[Problem]) -> ParsedOrders:
    """Check agreement across the lines of each order, number lines, split headers from lines."""
    first_seen: dict[str, _Row] = {}
    line_at: dict[tuple[str, int], int] = {}  # (order_id, line_no) -> file line
    next_no: dict[str, int] = {}
    lines: list[OrderLine] = []
    for row in rows:
        order_id = row.order.order_id
        first = first_seen.setdefault(order_id, row)
        if first is not row and first.order != row.order:
            problems.append((row.file_line, _disagreement(row, first)))
            continue
        if row.line_no is None:
            line_no = next_no[order_id] = next_no.get(order_id, 0) + 1
            if line_no > LINE_NO_MAX:
                problems.append((row.file_line, f"order {order_id!r} has over {LINE_NO_MAX} lines"))
                continue
        else:
            line_no = row.line_no
            earlier = line_at.setdefault((order_id, line_no), row.file_line)
            if earlier != row.file_line:
                problems.append(
                    (
                        row.file_line,
                        f"duplicate line_no {line_no} for order {order_id!r}"
                        f" (first on line {earlier})",
                    )
                )
                continue
        lines.append(OrderLine(order_id, line_no, row.item_id, row.quantity))
    return ParsedOrders([row.order for row in first_seen.values()], lines)


def _disagreement(row: _Row, first: _Row) -> str:
    names = ("user_id", "venue_id", "placed_at")
    differing = [
        f"{name} {getattr(row.order, name)} vs {getattr(first.order, name)}"
        for name in names
        if getattr(row.order, name) != getattr(first.order, name)
    ]
    return (
        f"order {row.order.order_id!r} disagrees with its line on line {first.file_line}: "
        + ", ".join(differing)
    )


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
