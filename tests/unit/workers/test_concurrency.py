"""FairSemaphore: slots are handed over in arrival order."""

from __future__ import annotations

import threading
import time

import pytest

from workers.concurrency import FairSemaphore


def test_waiters_are_served_in_the_order_they_arrived() -> None:
    # Given a one-slot semaphore held, and five threads queueing for it one after the other
    gate = FairSemaphore(1)
    gate.acquire()
    served: list[int] = []

    def take(n: int) -> None:
        with gate:
            served.append(n)

    threads = []
    for n in range(5):
        thread = threading.Thread(target=take, args=(n,))
        thread.start()
        threads.append(thread)
        while len(gate._waiting) < n + 1:  # n is queued before n + 1 starts
            time.sleep(0.001)
    # When the slot is released, and a latecomer tries to barge in at the same moment
    gate.release()
    take(99)
    for thread in threads:
        thread.join(timeout=5)
    # Then the waiters went first, in arrival order, and the latecomer last
    assert served == [0, 1, 2, 3, 4, 99]


def test_up_to_the_slot_count_run_at_once() -> None:
    # Given two slots
    gate = FairSemaphore(2)
    gate.acquire()
    gate.acquire()
    # When a third thread asks, it waits until one is released
    entered = threading.Event()

    def enter() -> None:
        gate.acquire()
        entered.set()

    thread = threading.Thread(target=enter)
    thread.start()
    assert not entered.wait(0.05)
    gate.release()
    assert entered.wait(5)
    thread.join(timeout=5)


def test_zero_slots_is_an_error() -> None:
    with pytest.raises(ValueError, match="slots"):
        FairSemaphore(0)
