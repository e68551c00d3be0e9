"""What the CLI prints: counts with their nouns, whole reasons of dead letters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from programs.cli.dead_letters import BODY_SHOWN, WIDTH, _print_rows
from programs.cli.text import clip, plural


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "0 messages"), (1, "1 message"), (2, "2 messages"), (1000, "1000 messages")],
)
def test_a_count_takes_the_singular_only_for_one(count: int, expected: str) -> None:
    assert plural(count, "message") == expected


def test_an_irregular_plural_is_given() -> None:
    assert plural(1, "delivery", "deliveries") == "1 delivery"
    assert plural(3, "delivery", "deliveries") == "3 deliveries"


def test_clipping_cuts_at_a_word_boundary_and_says_so() -> None:
    assert clip("short enough", 20) == "short enough"
    assert clip("the quick brown fox jumps", 17) == "the quick brown …"
    assert clip("x" * 30, 10) == "x" * 10 + " …"  # one long word: cut where it must be


REASON = (
    "invalid message: venue.upserted.rating: Input should be less than or equal to 5;"
    " venue.upserted.colour: Extra inputs are not permitted; venue.upserted.name: String"
    " should have at most 200 characters"
)


def test_dead_letters_show_their_whole_reason_and_a_short_body(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a rejection with a reason far over 80 characters and a long body
    row = {
        "id": 7,
        "message_id": "m-7",
        "queue_name": "events",
        "actor_name": "ingest",
        "reason": REASON,
        "raw_body": '{"args": [' + ", ".join(f'"word{i}"' for i in range(100)) + "]}",
        "rejected_at": datetime(2026, 1, 5, 12, tzinfo=UTC),
    }
    # When listed as text
    _print_rows([row], as_json=False)
    out = capsys.readouterr().out
    # Then every word of the reason is there, whole, in lines that fit
    reason_lines = out.split("reason: ")[1].split("body:")[0]
    assert " ".join(reason_lines.split()) == REASON
    assert all(len(line) <= WIDTH for line in out.splitlines())
    # And the body is cut at a word with an ellipsis, and --json named for the rest
    assert '"word5",' in out and "word99" not in out and "…" in out
    assert f"bodies cut at {BODY_SHOWN} characters: --json shows them whole" in out


def test_no_dead_letters_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    _print_rows([], as_json=False)
    assert capsys.readouterr().out == "no dead-lettered messages\n"
