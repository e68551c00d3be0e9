"""Group commit across a worker's threads.

Each message's events must be committed before the message is acked, and on two cores a commit
per single-event message is the limit (see benchmarks/README.md). Threads that write at the same
moment therefore share one transaction: the first becomes the leader and writes everything
pending, the others wait for that commit, then each thread returns (and its message is acked).
Nothing waits on purpose: at low load every write goes alone, with no added latency. Writes
that are already bulk (a batch message) skip the queue; a few of them run in parallel.

If a shared write fails, each member is retried alone, so an error is charged only to the
message that caused it (and only that one is retried or dead-lettered).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(eq=False)
class _Write(Generic[T]):
    events: Sequence[T]
    wake: threading.Event = field(default_factory=threading.Event)
    finished: bool = False
    error: BaseException | None = None


class Combiner(Generic[T]):
    # A waiting thread re-checks this often even unwoken, so no lost hand-over (say, to a thread
    # stopped by a time limit) can stall the queue.
    RECHECK_S = 0.5

    def __init__(
        self,
        write: Callable[[Sequence[T]], object],
        max_events: int = 1000,
        bulk: int = 100,
        bulk_parallel: int = 2,
    ) -> None:
        self._write = write
        self._max_events = max_events
        self._bulk = bulk
        # Many big transactions at once thrash two cores (measured: 64 at once ran batches at
        # ~12k events/s, a few at once at ~35k): bulk writes take turns, a few at a time.
        self._bulk_slots = threading.BoundedSemaphore(bulk_parallel)
        self._lock = threading.Lock()
        self._pending: list[_Write[T]] = []
        self._leading = False

    def submit(self, events: Sequence[T]) -> None:
        """Return once `events` are committed; raise what their write raised."""
        if len(events) >= self._bulk:  # already bulk: no merging, a few in parallel
            with self._bulk_slots:
                self._write(events)
            return
        mine: _Write[T] = _Write(events)
        with self._lock:
            self._pending.append(mine)
        while not mine.finished:
            mine.wake.clear()
            group = self._claim(mine)
            if group is None:
                mine.wake.wait(self.RECHECK_S)
            else:
                self._lead(group)
        if mine.error is not None:
            raise mine.error

    def _claim(self, mine: _Write[T]) -> list[_Write[T]] | None:
        """The group to write when nobody is writing (mine may not fit in it), else None."""
        with self._lock:
            if self._leading or mine.finished:
                return None
            self._leading = True
            return self._take()

    def _take(self) -> list[_Write[T]]:
        """Pending writes up to `max_events` events (always at least one write)."""
        size, count = 0, 0
        for write in self._pending:
            size += len(write.events)
            if count and size > self._max_events:
                break
            count += 1
        group, self._pending = self._pending[:count], self._pending[count:]
        return group

    def _lead(self, group: list[_Write[T]]) -> None:
        try:
            self._flush(group)
        except BaseException as error:  # e.g. a time limit hit this thread: none known done
            for write in group:
                write.error = write.error or error
            raise
        finally:
            self._finish(group)

    def _finish(self, group: list[_Write[T]]) -> None:
        with self._lock:
            for write in group:
                write.finished = True
            self._leading = False
            successor = self._pending[0] if self._pending else None
        for write in group:
            write.wake.set()
        if successor is not None:  # hand over: it writes what arrived meanwhile
            successor.wake.set()

    def _flush(self, group: list[_Write[T]]) -> None:
        try:
            self._write([event for write in group for event in write.events])
        except Exception as error:
            if len(group) == 1:
                group[0].error = error
                return
            for write in group:
                self._flush([write])
