"""The order-history CSV parser: what it accepts, how it numbers lines, what it rejects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain.intake.orders_csv import (
    BadFile,
    OrderHeader,
    OrderLine,
    ParsedOrders,
    parse_order_lines,
)

HEADER = "order_id,user_id,venue_id,item_id,quantity,placed_at,line_no\r\n"
HEADER_NO_LINE_NO = "order_id,user_id,venue_id,item_id,quantity,placed_at\r\n"
T0 = "2025-01-06T11:00:00Z"


def parse(text: str) -> ParsedOrders:
    return parse_order_lines(text.splitlines(keepends=True))


def problems(text: str) -> list[tuple[int, str]]:
    with pytest.raises(BadFile) as caught:
        parse(text)
    return caught.value.problems


def test_good_file_splits_orders_and_lines() -> None:
    # Given a file with two orders, one written with an offset instead of Z
    text = (
        HEADER
        + f"A1,2,10,100,1,{T0},1\r\n"
        + f"A1,2,10,101,3,{T0},2\r\n"
        + "B7,5,11,100,999,2025-01-07T09:30:00+02:00,4\r\n"
    )
    # When it is parsed
    parsed = parse(text)
    # Then each order appears once, with aware timestamps, and every line is kept in file order
    assert parsed.orders == [
        OrderHeader("A1", 2, 10, datetime(2025, 1, 6, 11, tzinfo=UTC)),
        OrderHeader("B7", 5, 11, datetime(2025, 1, 7, 9, 30, tzinfo=timezone(timedelta(hours=2)))),
    ]
    assert parsed.lines == [
        OrderLine("A1", 1, 100, 1),
        OrderLine("A1", 2, 101, 3),
        OrderLine("B7", 4, 100, 999),
    ]


def test_without_line_no_column_lines_are_numbered_per_order_in_file_order() -> None:
    # Given a file without line_no whose orders are interleaved
    text = (
        HEADER_NO_LINE_NO
        + f"A,1,1,100,1,{T0}\n"
        + f"B,2,1,200,1,{T0}\n"
        + f"A,1,1,101,1,{T0}\n"
        + f"A,1,1,102,1,{T0}\n"
    )
    # When it is parsed
    parsed = parse(text)
    # Then each order's lines are numbered 1..n in the order they appear
    assert [(line.order_id, line.line_no, line.item_id) for line in parsed.lines] == [
        ("A", 1, 100),
        ("B", 1, 200),
        ("A", 2, 101),
        ("A", 3, 102),
    ]


def test_header_only_file_is_empty_not_an_error() -> None:
    # Given only a header (When parsed) Then there is nothing to load
    assert parse(HEADER) == ParsedOrders([], [])


def test_blank_lines_and_quoted_fields_are_understood() -> None:
    # Given a quoted order id containing a comma, and a blank line
    text = HEADER + f'"X,1",1,1,100,1,{T0},1\r\n\r\n' + f'"X,1",1,1,101,1,{T0},2\r\n'
    # When parsed Then the id is kept verbatim and the blank line is skipped
    assert [line.order_id for line in parse(text).lines] == ["X,1", "X,1"]


@pytest.mark.parametrize(
    "header",
    [
        "order_id,user_id,venue_id,item_id,placed_at,quantity\n",  # wrong order
        "order_id,user_id,venue_id,item_id,quantity,placed_at,line_no,extra\n",
        "Order_Id,user_id,venue_id,item_id,quantity,placed_at\n",
        f"A,1,1,100,1,{T0},1\n",  # no header at all
    ],
)
def test_bad_header_is_reported_on_line_1_and_nothing_else(header: str) -> None:
    # Given a file whose header is not exactly the expected one (followed by a bad row)
    text = header + "A,x,1,1,1,nonsense,1\n"
    # When parsed Then only the header is reported: the rows can't be interpreted without it
    reported = problems(text)
    assert len(reported) == 1
    assert reported[0][0] == 1
    assert "header must be exactly" in reported[0][1]


def test_empty_file_is_rejected() -> None:
    assert problems("") == [
        (
            1,
            "empty file; expected header order_id,user_id,venue_id,item_id,quantity,placed_at,"
            "line_no",
        )
    ]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (f"A,abc,1,100,1,{T0},1", "user_id must be a positive integer, got 'abc'"),
        (f"A,1,-5,100,1,{T0},1", "venue_id must be a positive integer, got '-5'"),
        (f"A,-1,1,100,1,{T0},1", "user_id must be a positive integer, got '-1'"),
        (f"A,1,1,-100,1,{T0},1", "item_id must be a positive integer, got '-100'"),
        (f"A,1,1,100,-2,{T0},1", "quantity must be a positive integer, got '-2'"),
        (f"A,1,1,100,1,{T0},-1", "line_no must be a positive integer, got '-1'"),
        (f"A,1,1, 100,1,{T0},1", "item_id must be a positive integer, got ' 100'"),
        (f"A,1,1,1.5,1,{T0},1", "item_id must be a positive integer, got '1.5'"),
        (f"A,1,1,100,1,{T0},", "line_no must be a positive integer, got ''"),
        (f"A,1,1,{2**63},1,{T0},1", f"item_id must be at most {2**63 - 1}, got {2**63}"),
        (f"A,0,1,100,1,{T0},1", "user_id must be a positive integer, got 0"),
        (f"A,1,1,100,0,{T0},1", "quantity must be a positive integer, got 0"),
        (f"A,1,1,100,1000,{T0},1", "quantity must be at most 999, got 1000"),
        (f"A,1,1,100,1,{T0},10001", "line_no must be at most 10000, got 10001"),
        (f",1,1,100,1,{T0},1", "order_id is empty"),
        (f"{'x' * 65},1,1,100,1,{T0},1", "order_id is longer than 64 characters"),
        ("A,1,1,100,1,2025-01-06T11:00:00,1", "placed_at needs a UTC offset or Z"),
        ("A,1,1,100,1,2025-01-06,1", "placed_at needs a UTC offset or Z"),
        ("A,1,1,100,1,yesterday,1", "placed_at must be an ISO-8601 timestamp"),
        (f"A,1,1,100,1,{T0}", "expected 7 fields, got 6"),
    ],
)
def test_a_bad_field_is_reported_with_its_reason(row: str, reason: str) -> None:
    # Given a file with one good row and then one bad row
    text = HEADER + f"OK,1,1,100,1,{T0},1\n" + row + "\n"
    # When parsed Then exactly that row (file line 3) is reported, with the reason
    [(line, message)] = problems(text)
    assert line == 3
    assert reason in message


def test_every_bad_field_of_a_row_is_listed() -> None:
    # Given a row with three bad fields
    [(_, message)] = problems(HEADER + "A,x,1,100,0,noon,1\n")
    # Then the one problem names all three
    assert "user_id" in message and "quantity" in message and "placed_at" in message


def test_lines_of_one_order_must_agree_on_user_venue_and_time() -> None:
    # Given order A whose lines disagree on user (line 3) and on time (line 4)
    text = (
        HEADER
        + f"A,1,7,100,1,{T0},1\n"
        + f"A,2,7,101,1,{T0},2\n"
        + "A,1,7,102,1,2025-01-06T12:00:00Z,3\n"
        # the same instant written with another offset is the same time: accepted
        + "A,1,7,103,1,2025-01-06T13:00:00+02:00,4\n"
    )
    # When parsed Then the later, disagreeing lines are reported, pointing at the first line
    reported = problems(text)
    assert [line for line, _ in reported] == [3, 4]
    assert "order 'A' disagrees with its line on line 2: user_id 2 vs 1" in reported[0][1]
    assert "placed_at" in reported[1][1] and "user_id" not in reported[1][1]


def test_order_and_line_no_must_be_unique() -> None:
    # Given line_no 1 of order A twice (the same line_no in another order is fine)
    text = HEADER + f"A,1,1,100,1,{T0},1\n" + f"B,1,1,100,1,{T0},1\n" + f"A,1,1,101,1,{T0},1\n"
    # When parsed Then the repeat is reported with where the first one is
    assert problems(text) == [(4, "duplicate line_no 1 for order 'A' (first on line 2)")]


def test_line_numbers_count_the_header_blank_lines_and_multiline_fields() -> None:
    # Given a blank line and a quoted order id spanning two lines before the bad row
    text = (
        HEADER  # line 1
        + f"A,1,1,100,1,{T0},1\n"  # line 2
        + "\n"  # line 3
        + f'"multi\nline",1,1,100,1,{T0},1\n'  # lines 4-5
        + f"B,1,1,100,0,{T0},1\n"  # line 6: quantity 0
        + f'"C,1,1,100,x,{T0},1\n'  # line 7: bad quantity, but first: an unclosed quote
    )
    # When parsed Then problems carry the file line each record starts on, in file order
    assert [line for line, _ in problems(text)] == [6, 7]


def test_malformed_csv_is_a_problem_not_a_crash() -> None:
    # Given a quote inside an unquoted field (plain text in CSV) and text after a closing quote
    text = HEADER + f'A"b,1,1,100,1,{T0},1\n' + f'"x"y,1,1,100,1,{T0},1\n'
    # When parsed Then only the second is malformed
    with pytest.raises(BadFile) as caught:
        parse(text)
    [(line, reason)] = caught.value.problems
    assert line == 3
    assert reason.startswith("malformed CSV")


def test_many_problems_are_all_kept_but_the_message_is_truncated() -> None:
    # Given 120 rows with quantity 0
    text = HEADER + "".join(f"O{i},1,1,100,0,{T0},1\n" for i in range(120))
    # When parsed
    with pytest.raises(BadFile) as caught:
        parse(text)
    # Then all 120 are kept, in file order, and the message shows 50 and counts the rest
    assert [line for line, _ in caught.value.problems] == list(range(2, 122))
    message = str(caught.value).splitlines()
    assert len(message) == 51
    assert message[0] == "line 2: quantity must be a positive integer, got 0"
    assert message[-1] == "... and 70 more"


def test_problems_from_different_checks_come_back_in_file_order() -> None:
    # Given a disagreeing line (line 3, found when orders are assembled) before a bad field (line 4)
    text = HEADER + f"A,1,1,100,1,{T0},1\n" + f"A,2,1,101,1,{T0},2\n" + f"B,1,1,100,0,{T0},1\n"
    # When parsed Then the problems are listed by line number
    assert [line for line, _ in problems(text)] == [3, 4]
