"""Opening hours (pure): is a venue open at a given local wall-clock time?

A venue's hours are weekly windows in its city's local time, as published in `venue.upserted`:
``{"weekday": 0..6 (0 = Monday), "opens": "HH:MM", "closes": "HH:MM"}``.

- A window is half-open, ``[opens, closes)``: open exactly at `opens`, closed exactly at `closes`.
- ``closes <= opens`` means the window runs past midnight into the next day (a Sunday window
  runs into Monday); ``closes == opens`` is therefore a full 24 hours.
- **An empty list means always open.** `opening_hours` is optional in `venue.upserted` (default
  ``[]``), and a venue that publishes no hours must not vanish from every list; a venue that is
  closed for good is published with ``active = false`` instead.

Hours are compiled once into intervals of minutes of the week, so the per-request check is a few
integer comparisons.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY


@dataclass(frozen=True)
class WeeklyHours:
    """Compiled opening hours: ``[start, end)`` minutes of the week, Monday 00:00 = 0. An end
    past the end of the week wraps into Monday. No intervals at all means always open."""

    intervals: tuple[tuple[int, int], ...]

    def open_at_minute(self, minute_of_week: int) -> bool:
        if not self.intervals:
            return True
        wrapped = minute_of_week + MINUTES_PER_WEEK  # the same instant, seen from last week
        for start, end in self.intervals:
            if start <= minute_of_week < end or start <= wrapped < end:
                return True
        return False

    def open_at(self, local: datetime) -> bool:
        return self.open_at_minute(minute_of_week(local))

    def spans_on(self, weekday: int) -> list[tuple[int, int]]:
        """The open [from, to) minutes within one local day (0 = Monday), window by window
        (a window past the end of the week counts from the Monday it runs into)."""
        day_start = weekday * MINUTES_PER_DAY
        spans = []
        for start, end in self.intervals:
            for shift in (0, -MINUTES_PER_WEEK):
                lo = max(start + shift, day_start)
                hi = min(end + shift, day_start + MINUTES_PER_DAY)
                if lo < hi:
                    spans.append((lo - day_start, hi - day_start))
        return spans


ALWAYS_OPEN = WeeklyHours(())


def minute_of_week(local: datetime) -> int:
    """Minutes since Monday 00:00 of a local wall-clock time (seconds are ignored)."""
    return local.weekday() * MINUTES_PER_DAY + local.hour * 60 + local.minute


def compile_hours(windows: Iterable[Mapping[str, Any]]) -> WeeklyHours:
    """Windows as published -> intervals of the week."""
    return weekly((int(w["weekday"]), _minutes(w["opens"]), _minutes(w["closes"])) for w in windows)


def weekly(windows: Iterable[tuple[int, int, int]]) -> WeeklyHours:
    """(weekday, opens, closes) windows in minutes of the day -> intervals of the week."""
    intervals = []
    for weekday, opens, closes in windows:
        start = weekday * MINUTES_PER_DAY + opens
        length = (closes - opens) % MINUTES_PER_DAY or MINUTES_PER_DAY
        intervals.append((start, start + length))
    return WeeklyHours(tuple(sorted(intervals)))


def open_at(windows: Iterable[Mapping[str, Any]], local: datetime) -> bool:
    """Whether a venue with these windows is open at `local` (its city's wall-clock time)."""
    return compile_hours(windows).open_at(local)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)
