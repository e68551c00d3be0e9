"""What can be served right now: venues that are active and open, items that are available.

Read-time filters must cost next to nothing per request, so each process keeps a snapshot of the
whole catalog's state (every venue's active flag, compiled opening hours and city timezone; the
set of unavailable item ids), loaded in one query each and at most `max_age` seconds old
(default 10 s). On the request path the only work is one clock read and a comparison; a stale
snapshot is replaced by a background thread (one at a time) while requests keep using the
previous one. Only the very first use of a process loads in the foreground (under a lock, so
only one request pays; the HTTP app warms it at start-up).

What is not in the snapshot is served: a venue the catalog does not know (yet: no foreign
keys, and the snapshot lags by up to `max_age`), or one whose city or timezone is unknown, is
kept. The filters drop what is known to be unservable, never what is merely unknown.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg

from domain.opening import WeeklyHours, compile_hours
from store.db import Database
from store.recs import queries

logger = logging.getLogger(__name__)

DEFAULT_MAX_AGE_S = 10.0
RETRY_AFTER_S = 1.0  # after a failed refresh, keep serving the old snapshot; retry this soon


@dataclass(frozen=True, slots=True)
class Schedule:
    """A timezone and opening hours, shared by all the venues that have both."""

    zone: ZoneInfo | None  # None: unknown city or timezone, the hours cannot be judged
    hours: WeeklyHours

    def open_at(self, now: datetime) -> bool:
        return self.zone is None or self.hours.open_at(now.astimezone(self.zone))


INACTIVE = -1


@dataclass(frozen=True)
class Snapshot:
    """`venues` maps a venue id to the index of its schedule in `schedules`, or to INACTIVE.
    Plain ints, not an object per venue: a dict holding only ints is not tracked by Python's
    garbage collector, so a big catalog adds nothing to collection pauses."""

    venues: Mapping[int, int]
    schedules: Sequence[Schedule]
    unavailable_items: frozenset[int]

    def venue_servable(self, now: datetime) -> Callable[[int], bool]:
        """A predicate for one request: the venue is active and open at `now` (aware)."""
        open_now: dict[int, bool] = {}  # by schedule: each judged once per request

        def servable(venue_id: int) -> bool:
            index = self.venues.get(venue_id)
            if index is None:
                return True
            if index == INACTIVE:
                return False
            is_open = open_now.get(index)
            if is_open is None:
                is_open = open_now[index] = self.schedules[index].open_at(now)
            return is_open

        return servable

    def item_available(self, item_id: int) -> bool:
        return item_id not in self.unavailable_items

    def keeps(self, ids: str, now: datetime) -> Callable[[int], bool]:
        """The read-time filter for a list of `ids` (a surface's id kind: venue, item) at
        `now`; kinds the snapshot knows nothing about are served as they are."""
        if ids == "venue":
            return self.venue_servable(now)
        if ids == "item":
            return self.item_available
        return _serve_all


def _serve_all(_: int) -> bool:
    return True


def load(connection: psycopg.Connection[Any]) -> Snapshot:
    """The whole catalog's state: two queries."""
    indexes: dict[tuple[str | None, str], int] = {}
    schedules: list[Schedule] = []
    venues: dict[int, int] = {}
    for venue_id, active, timezone, hours in connection.execute(queries.VENUE_AVAILABILITY):
        if not active:
            venues[venue_id] = INACTIVE
            continue
        index = indexes.get((timezone, hours))
        if index is None:
            index = indexes[timezone, hours] = len(schedules)
            schedules.append(Schedule(_zone(timezone), _hours(hours)))
        venues[venue_id] = index
    unavailable = frozenset(row[0] for row in connection.execute(queries.UNAVAILABLE_ITEMS))
    return Snapshot(venues, tuple(schedules), unavailable)


@lru_cache(maxsize=65536)
def _hours(text: str) -> WeeklyHours:
    """Compiled hours by their JSON text: hours rarely change, so a reload compiles (and
    parses) only what is new."""
    return compile_hours(json.loads(text))


@lru_cache(maxsize=1024)
def _zone(name: str | None) -> ZoneInfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown timezone %r: opening hours of its venues are not checked", name)
        return None


def _start_daemon_thread(target: Callable[[], None]) -> None:
    threading.Thread(target=target, name="availability-refresh", daemon=True).start()


class AvailabilityCache:
    """The per-process snapshot, refreshed at most every `max_age` seconds.

    `load` reads a fresh snapshot (it does the I/O); `monotonic` and `spawn` (runs a function in
    the background) are injectable so tests control time and threads."""

    def __init__(
        self,
        load: Callable[[], Snapshot],
        max_age: float = DEFAULT_MAX_AGE_S,
        monotonic: Callable[[], float] = time.monotonic,
        spawn: Callable[[Callable[[], None]], None] = _start_daemon_thread,
    ) -> None:
        self._load = load
        self._max_age = max_age
        self._monotonic = monotonic
        self._spawn = spawn
        self._snapshot: Snapshot | None = None
        self._due = 0.0  # monotonic time after which the snapshot is stale
        self._loading = threading.Lock()  # held by whoever is loading

    def get(self) -> Snapshot:
        snapshot = self._snapshot
        if snapshot is None:
            return self._load_first()
        if self._monotonic() >= self._due and self._loading.acquire(blocking=False):
            try:
                self._spawn(self._refresh)
            except BaseException:
                self._loading.release()
                raise
        return snapshot

    def _load_first(self) -> Snapshot:
        with self._loading:
            if self._snapshot is None:
                self._store(self._load())
            assert self._snapshot is not None
            return self._snapshot

    def _refresh(self) -> None:
        """Runs in the background, holding the loading lock (acquired by `get`)."""
        try:
            self._store(self._load())
        except Exception:
            logger.exception("availability refresh failed; serving the previous snapshot")
            self._due = self._monotonic() + min(RETRY_AFTER_S, self._max_age)
        finally:
            self._loading.release()

    def _store(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._due = self._monotonic() + self._max_age


def cache_for(database: Database, max_age: float = DEFAULT_MAX_AGE_S) -> AvailabilityCache:
    """A cache loading from `database`: two autocommitted statements on one pooled connection
    (venues and items need not come from one transaction)."""

    def load_from_database() -> Snapshot:
        with database.unit_of_work(single_statement=True) as uow:
            return load(uow.connection)

    return AvailabilityCache(load_from_database, max_age)
