"""The clock the order-problem checks judge by.

Checks compare events' `occurred_at` (the producer's clock) with "now", so every process that
evaluates rules (workers, the scheduler's sweeps) and whoever stamps the events must agree on
now. In production that is the real clock. A simulation compresses time: with
`LARDER_CLOCK_SPEED=X` every process reads the same *scaled* clock,

    now = epoch + (real now - epoch) x X          (LARDER_CLOCK_EPOCH, a fixed instant)

a pure function of the real clock and two settings, so processes need no coordination; the
simulator stamps its events with the same clock (`larder simulate` starts its own worker and
scheduler with these settings). Postgres' `now()` is never used for rule times.

Tests inject a clock with `use(...)` (e.g. a `FixedClock` they move by hand): nothing sleeps.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    @property
    def speed(self) -> float:
        """Clock seconds per real second."""
        ...

    def now(self) -> datetime: ...


@dataclass(frozen=True)
class ScaledClock:
    """Real time (speed 1) or time running `speed` times faster from `epoch` on."""

    speed: float = 1.0
    epoch: datetime = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        real = datetime.now(UTC)
        if self.speed == 1.0:
            return real
        return self.epoch + (real - self.epoch) * self.speed

    def real_at(self, instant: datetime) -> datetime:
        """The real instant at which this clock reads `instant`."""
        return self.epoch + (instant - self.epoch) / self.speed


class FixedClock:
    """A clock that moves only when told to (tests)."""

    speed = 1.0

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, instant: datetime) -> None:
        with self._lock:
            self._now = instant

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now


_current: Clock | None = None


def current() -> Clock:
    """The process's clock: an injected one, else the one the settings describe."""
    global _current
    if _current is None:
        from workers.settings import get_settings

        settings = get_settings()
        _current = ScaledClock(settings.clock_speed, settings.clock_epoch)
    return _current


def now() -> datetime:
    return current().now()


@contextmanager
def use(clock: Clock) -> Iterator[Clock]:
    """Judge by `clock` inside the block (every thread of the process)."""
    global _current
    previous, _current = _current, clock
    try:
        yield clock
    finally:
        _current = previous
