"""The per-process catalog snapshot: cheap on the request path, refreshed in the background."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from domain.opening import ALWAYS_OPEN, compile_hours
from store.recs.availability import INACTIVE, RETRY_AFTER_S, AvailabilityCache, Schedule, Snapshot


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Loader:
    """Returns a new snapshot per call (its unavailable set holds the call's number)."""

    def __init__(self) -> None:
        self.calls = 0
        self.failing = False

    def __call__(self) -> Snapshot:
        self.calls += 1
        if self.failing:
            raise ConnectionError("database down")
        return Snapshot({}, (), frozenset({self.calls}))


class Spawner:
    """Holds background work until the test runs it."""

    def __init__(self) -> None:
        self.pending: list[Callable[[], None]] = []

    def __call__(self, work: Callable[[], None]) -> None:
        self.pending.append(work)

    def run(self) -> None:
        work, self.pending = self.pending, []
        for job in work:
            job()


@pytest.fixture
def parts() -> tuple[Loader, Clock, Spawner, AvailabilityCache]:
    loader, clock, spawner = Loader(), Clock(), Spawner()
    return loader, clock, spawner, AvailabilityCache(loader, 10.0, clock, spawner)


def generation(snapshot: Snapshot) -> int:
    return next(iter(snapshot.unavailable_items))


def test_the_first_use_loads_then_reads_are_served_from_memory(
    parts: tuple[Loader, Clock, Spawner, AvailabilityCache],
) -> None:
    loader, clock, spawner, cache = parts
    # When the cache is read now and 9.9 s later
    first = cache.get()
    clock.now += 9.9
    second = cache.get()
    # Then it loaded once, in the foreground, and nothing went to the background
    assert loader.calls == 1 and first is second
    assert spawner.pending == []


def test_a_stale_snapshot_is_served_while_one_background_refresh_replaces_it(
    parts: tuple[Loader, Clock, Spawner, AvailabilityCache],
) -> None:
    loader, clock, spawner, cache = parts
    cache.get()
    # Given the snapshot is 10 s old
    clock.now += 10.0
    # When three requests read it before the refresh finishes
    served = [generation(cache.get()) for _ in range(3)]
    # Then they got the old one at once, and exactly one refresh was started
    assert served == [1, 1, 1]
    assert len(spawner.pending) == 1 and loader.calls == 1
    # And once it has run, requests get the new snapshot, for another 10 s
    spawner.run()
    assert generation(cache.get()) == 2
    clock.now += 9.0
    cache.get()
    assert spawner.pending == [] and loader.calls == 2


def test_a_failed_refresh_keeps_the_old_snapshot_and_retries_soon_not_per_request(
    parts: tuple[Loader, Clock, Spawner, AvailabilityCache],
) -> None:
    loader, clock, spawner, cache = parts
    cache.get()
    clock.now += 10.0
    loader.failing = True
    # Given a refresh that fails
    cache.get()
    spawner.run()
    # When requests keep coming within the retry delay
    for _ in range(5):
        assert generation(cache.get()) == 1
    # Then no new refresh starts before it ...
    assert spawner.pending == []
    # ... and one starts after it
    clock.now += RETRY_AFTER_S
    loader.failing = False
    cache.get()
    spawner.run()
    assert generation(cache.get()) == 3


HELSINKI = ZoneInfo("Europe/Helsinki")
TEN_TO_TEN = compile_hours([{"weekday": d, "opens": "10:00", "closes": "22:00"} for d in range(7)])
EVENING = datetime(2026, 1, 5, 20, 30, tzinfo=UTC)  # a Monday; 22:30 in Helsinki


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (Schedule(HELSINKI, TEN_TO_TEN), False),  # 22:30 in Helsinki: closed
        (Schedule(ZoneInfo("UTC"), TEN_TO_TEN), True),  # the same instant is 20:30 in UTC
        (Schedule(HELSINKI, ALWAYS_OPEN), True),  # no hours published
        (Schedule(None, TEN_TO_TEN), True),  # timezone unknown: hours not judged
    ],
)
def test_venues_are_judged_in_their_city_local_time(schedule: Schedule, expected: bool) -> None:
    # Given an active venue 7 with this schedule / When judged at 20:30 UTC / Then
    snapshot = Snapshot({7: 0}, (schedule,), frozenset())
    assert snapshot.venue_servable(EVENING)(7) is expected


def test_inactive_venues_are_dropped_and_unknown_ones_kept() -> None:
    snapshot = Snapshot({7: INACTIVE}, (), frozenset())
    servable = snapshot.venue_servable(EVENING)
    assert servable(7) is False
    assert servable(8) is True  # not in the catalog (yet)


def test_venues_sharing_a_schedule_are_judged_alike_within_a_request() -> None:
    # Given venues 1 and 2 in Helsinki and venue 3 in UTC, with the same hours
    snapshot = Snapshot(
        {1: 0, 2: 0, 3: 1},
        (Schedule(HELSINKI, TEN_TO_TEN), Schedule(ZoneInfo("UTC"), TEN_TO_TEN)),
        frozenset(),
    )
    # When one request judges them / Then each by its own city's time
    servable = snapshot.venue_servable(EVENING)
    assert [servable(v) for v in (1, 3, 2)] == [False, True, False]
