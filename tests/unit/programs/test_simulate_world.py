"""`larder simulate world --out`: a seeded world ends now by default, or at `--end`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from programs.cli import main

SIZE = ["--cities", "1", "--venues", "6", "--users", "30", "--days", "3"]


def seeded(out: Path, *options: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(main, ["simulate", "world", *SIZE, *options, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in out.read_text().splitlines()]


def history(events: list[dict[str, object]]) -> list[datetime]:
    stamps = [e.get("placed_at") or e.get("occurred_at") for e in events]
    return sorted(datetime.fromisoformat(str(s)) for s in stamps if s)


def test_by_default_the_history_ends_now(tmp_path: Path) -> None:
    # Given the time now / When a world is seeded without --end
    before = datetime.now(UTC)
    stamps = history(seeded(tmp_path / "world.jsonl"))
    # Then its history covers the last 3 days up to now (the end is now, to the minute)
    assert stamps and stamps[-1] < datetime.now(UTC)
    assert stamps[0] >= before - timedelta(days=3, minutes=1)
    assert stamps[-1] > before - timedelta(days=1)


def test_an_explicit_end_gives_the_same_file_every_time(tmp_path: Path) -> None:
    # Given an explicit end / When seeded twice
    first = seeded(tmp_path / "a.jsonl", "--end", "2026-01-05T12:00:00+02:00")
    again = seeded(tmp_path / "b.jsonl", "--end", "2026-01-05T10:00Z")  # the same instant
    # Then the files are identical, and the history ends at that instant
    assert first == again
    assert history(first)[-1] < datetime(2026, 1, 5, 10, tzinfo=UTC)


def test_an_end_without_an_offset_is_refused(tmp_path: Path) -> None:
    # Given an end without an offset / When seeded / Then refused, saying what is missing
    out = tmp_path / "world.jsonl"
    result = CliRunner().invoke(
        main, ["simulate", "world", *SIZE, "--end", "2026-01-05T10:00", "--out", str(out)]
    )
    assert result.exit_code == 2
    assert "needs an offset or Z" in result.output
    assert not out.exists()
