"""A worker process's lifecycle messages in flight, and the watermark it publishes.

The sweeps may conclude "nothing happened by T" only once every event up to T has been
applied. Each worker process knows what it holds: the messages it is applying (or waiting to
apply), each with its oldest event. Its watermark is the oldest event among them, or, with
none in flight, the newest event it applied. Messages it has not taken yet were delivered
after the ones it holds, so (give or take events that arrive late, which EVENT_GRACE covers)
nothing older than its watermark is still to come through this process. The oldest watermark
of the busy processes is the fleet's low-water mark (store/order_checks.py).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime


class InFlight:
    """`write(mark, now)` stores the process's watermark (the caller's connection and row).
    Writes are at most one per `every_s` seconds, except that a lower mark is written at once:
    a late message must hold the sweeps back before it is applied, not after."""

    def __init__(
        self,
        write: Callable[[datetime, datetime], None],
        every_s: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._write = write
        self._every_s = every_s
        self._monotonic = monotonic
        self._lock = threading.Lock()  # held while writing: a process's writes never cross
        self._holding: Counter[datetime] = Counter()  # oldest event of each message held
        self._newest: datetime | None = None  # newest event applied
        self._written: datetime | None = None
        self._written_at = -math.inf

    def begin(self, oldest: datetime, now: datetime) -> datetime | None:
        """Hold a message whose oldest event is `oldest`; returns the oldest event of the
        other messages this process holds (None: none)."""
        with self._lock:
            others = min(self._holding) if self._holding else None
            self._holding[oldest] += 1
            try:
                self._publish(now)
            except BaseException:
                self._release(oldest)
                raise
        return others

    def end(self, oldest: datetime, newest: datetime | None, now: datetime) -> None:
        """Release the message held by `begin(oldest)`; `newest` is its newest event if it
        was applied (None: it failed, and will come again)."""
        with self._lock:
            self._release(oldest)
            if newest is not None:
                self._newest = newest if self._newest is None else max(self._newest, newest)
            self._publish(now)

    def others(self, held: Counter[datetime]) -> datetime | None:
        """The oldest event of the messages this process holds but `held` (the oldest events
        of the messages one transaction applies together; None: none)."""
        with self._lock:
            rest = self._holding - held
        return min(rest) if rest else None

    def mark(self) -> datetime | None:
        return min(self._holding) if self._holding else self._newest

    def _release(self, oldest: datetime) -> None:
        self._holding[oldest] -= 1
        if self._holding[oldest] <= 0:
            del self._holding[oldest]

    def _publish(self, now: datetime) -> None:
        mark = self.mark()
        if mark is None:
            return
        mark = min(mark, now)  # a producer's clock may be ahead
        lowered = self._written is not None and mark < self._written
        if not lowered and self._monotonic() - self._written_at < self._every_s:
            return
        self._write(mark, now)
        self._written, self._written_at = mark, self._monotonic()
