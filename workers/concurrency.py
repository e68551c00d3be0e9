"""A semaphore that serves its waiters in arrival order."""

from __future__ import annotations

import threading
from collections import deque
from types import TracebackType


class FairSemaphore:
    """Like `threading.Semaphore`, but first come, first served: a released slot goes to the
    longest waiter, never to a thread that arrives later (threading's semaphore lets it barge
    in). Worker threads take messages in queue order; with this they also start them in that
    order, so a message is never left behind the ones delivered after it."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots}")
        self._free = slots
        self._lock = threading.Lock()
        self._waiting: deque[threading.Event] = deque()

    def acquire(self) -> None:
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return
            turn = threading.Event()
            self._waiting.append(turn)
        turn.wait()  # the releasing thread handed its slot over

    def release(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._free += 1

    def __enter__(self) -> FairSemaphore:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.release()
