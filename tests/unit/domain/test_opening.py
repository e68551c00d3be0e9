"""Opening hours: open at a local wall-clock time, at the edges of windows and past midnight."""

from __future__ import annotations

import random
from datetime import datetime

import pytest

from domain.opening import MINUTES_PER_DAY, MINUTES_PER_WEEK, compile_hours, open_at

# 2026-01-05 is a Monday; day d of that week is 2026-01-(5 + d)
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def at(weekday: int, hhmm: str, second: int = 0) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return datetime(2026, 1, 5 + weekday, hours, minutes, second)


def window(weekday: int, opens: str, closes: str) -> dict[str, object]:
    return {"weekday": weekday, "opens": opens, "closes": closes}


MONDAY_10_22 = [window(MON, "10:00", "22:00")]
FRIDAY_NIGHT = [window(FRI, "18:00", "02:00")]  # runs into Saturday


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (at(MON, "09:59", 59), False),  # a second before opening
        (at(MON, "10:00"), True),  # exactly at opens: open
        (at(MON, "21:59", 59), True),  # the last second
        (at(MON, "22:00"), False),  # exactly at closes: closed
        (at(TUE, "12:00"), False),  # a day without a window
    ],
)
def test_a_day_window_is_open_from_opens_until_just_before_closes(
    local: datetime, expected: bool
) -> None:
    # Given Monday 10:00-22:00 / When asked at `local` / Then open only inside [opens, closes)
    assert open_at(MONDAY_10_22, local) is expected


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (at(FRI, "17:59"), False),
        (at(FRI, "18:00"), True),  # exactly at opens
        (at(FRI, "23:59", 59), True),
        (at(SAT, "00:00"), True),  # past midnight, the next day
        (at(SAT, "01:59"), True),
        (at(SAT, "02:00"), False),  # exactly at closes, on the next day
        (at(SAT, "18:00"), False),  # the day after: Friday's window does not repeat
        (at(THU, "01:00"), False),  # the night before Friday is not Friday's night
    ],
)
def test_an_overnight_window_runs_past_midnight_into_the_next_day(
    local: datetime, expected: bool
) -> None:
    # Given Friday 18:00-02:00 (closes before it opens) / When asked / Then it spans midnight
    assert open_at(FRIDAY_NIGHT, local) is expected


def test_a_sunday_night_window_runs_into_monday() -> None:
    # Given Sunday 20:00-03:00 / Then it is open early on Monday, the start of the week
    hours = [window(SUN, "20:00", "03:00")]
    assert open_at(hours, at(SUN, "23:00"))
    assert open_at(hours, at(MON, "02:59"))
    assert not open_at(hours, at(MON, "03:00"))
    assert not open_at(hours, at(SUN, "19:59"))


def test_closing_at_midnight_and_round_the_clock_windows() -> None:
    # Given a shop closing at 00:00 on Monday and one open 06:00-06:00 (24 h) on Wednesday
    until_midnight = [window(MON, "07:00", "00:00")]
    round_the_clock = [window(WED, "06:00", "06:00")]
    # Then the first is open until the last minute of Monday, not at Tuesday 00:00
    assert open_at(until_midnight, at(MON, "23:59"))
    assert not open_at(until_midnight, at(TUE, "00:00"))
    # And the second is open for exactly 24 hours from Wednesday 06:00
    assert not open_at(round_the_clock, at(WED, "05:59"))
    assert open_at(round_the_clock, at(WED, "06:00"))
    assert open_at(round_the_clock, at(THU, "05:59"))
    assert not open_at(round_the_clock, at(THU, "06:00"))


def test_split_service_is_closed_between_its_windows() -> None:
    hours = [window(TUE, "11:30", "14:30"), window(TUE, "17:30", "22:30")]
    assert open_at(hours, at(TUE, "12:00"))
    assert not open_at(hours, at(TUE, "15:00"))
    assert open_at(hours, at(TUE, "17:30"))


def test_no_hours_at_all_means_always_open() -> None:
    # Given a venue that published no opening hours (the field is optional, default [])
    # Then it is never dropped as closed: only `active = false` takes a venue off
    assert all(open_at([], at(day, "03:00")) for day in range(7))


def test_compiled_hours_agree_with_a_minute_by_minute_expansion() -> None:
    # Given random weekly windows (overnight, midnight and 24 h ones included)
    draws = random.Random(11)
    for _ in range(200):
        windows = [
            window(
                draws.randrange(7), _hhmm(draws.randrange(96) * 15), _hhmm(draws.randrange(96) * 15)
            )
            for _ in range(draws.randrange(1, 5))
        ]
        # When each minute of the week is expanded by brute force
        expected = _expand(windows)
        compiled = compile_hours(windows)
        # Then the compiled check agrees at every quarter hour and the minute before it
        for minute in range(0, MINUTES_PER_WEEK, 15):
            for probe in (minute, minute - 1):
                probe %= MINUTES_PER_WEEK
                assert compiled.open_at_minute(probe) is (probe in expected), (windows, probe)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _expand(windows: list[dict[str, object]]) -> set[int]:
    """Every open minute of the week, walking each window a minute at a time."""
    open_minutes: set[int] = set()
    for w in windows:
        opens, closes = (int(str(w[k])[:2]) * 60 + int(str(w[k])[3:]) for k in ("opens", "closes"))
        minute = int(str(w["weekday"])) * MINUTES_PER_DAY + opens
        while True:
            open_minutes.add(minute % MINUTES_PER_WEEK)
            minute += 1
            if minute % MINUTES_PER_DAY == closes:
                break
    return open_minutes
