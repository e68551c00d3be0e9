"""Group commit across threads (pure: the write is a fake)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from store.combiner import Combiner


class FakeWrite:
    def __init__(self, delay: float = 0.0, poison: Any = None) -> None:
        self.calls: list[list[Any]] = []
        self.delay = delay
        self.poison = poison
        self.lock = threading.Lock()

    def __call__(self, events: Sequence[Any]) -> None:
        time.sleep(self.delay)
        if self.poison in events:
            raise ValueError(f"cannot write {self.poison}")
        with self.lock:
            self.calls.append(list(events))


def run_threads(combiner: Combiner, items: list[Any]) -> dict[Any, BaseException | None]:
    outcome: dict[Any, BaseException | None] = {}

    def one(item: Any) -> None:
        try:
            combiner.submit([item])
            outcome[item] = None
            written_at_return[item] = any(item in call for call in list(write_log(combiner)))
        except Exception as error:
            outcome[item] = error

    written_at_return: dict[Any, bool] = {}

    threads = [threading.Thread(target=one, args=(i,)) for i in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert all(written_at_return.values()), "a submit returned before its events were written"
    return outcome


def write_log(combiner: Combiner) -> list[list[Any]]:
    return combiner._write.calls  # type: ignore[attr-defined]


def test_a_lone_write_goes_alone_and_returns_after_it() -> None:
    write = FakeWrite()
    Combiner(write).submit(["a"])
    assert write.calls == [["a"]]


def test_concurrent_writes_share_transactions_and_all_complete() -> None:
    # Given a slow store and 40 threads writing at once
    write = FakeWrite(delay=0.02)
    # When they all submit
    outcome = run_threads(Combiner(write), list(range(40)))
    # Then every write is committed exactly once, in far fewer transactions than writes
    assert outcome == {i: None for i in range(40)}
    assert sorted(e for call in write.calls for e in call) == list(range(40))
    assert len(write.calls) < 20


def test_a_failing_member_fails_alone() -> None:
    # Given one event that the store rejects, among 20 written at once
    write = FakeWrite(delay=0.01, poison=7)
    outcome = run_threads(Combiner(write), list(range(20)))
    # Then only its writer sees the error; everyone else is committed
    assert isinstance(outcome.pop(7), ValueError)
    assert outcome == {i: None for i in range(20) if i != 7}
    assert 7 not in {e for call in write.calls for e in call}


def test_an_error_of_a_lone_write_is_raised_to_its_caller() -> None:
    with pytest.raises(ValueError, match="cannot write x"):
        Combiner(FakeWrite(poison="x")).submit(["x"])


def test_no_submit_returns_before_its_own_write_is_committed() -> None:
    # Given a cap of 3 events per transaction and a slow store, so groups exclude late comers
    write = FakeWrite(delay=0.005)
    # When 60 writers race, repeatedly
    for _ in range(5):
        outcome = run_threads(Combiner(write, max_events=3), list(range(60)))
        # Then each returned only once its own event was written (checked in run_threads)
        assert all(v is None for v in outcome.values())


def test_a_shared_transaction_is_capped_but_a_large_write_still_goes_whole() -> None:
    # Given a cap of 5 events per transaction and a slow store
    write = FakeWrite(delay=0.02)
    combiner = Combiner(write, max_events=5, bulk=100)
    # When 30 single-event writes and one 8-event write arrive at once
    big = threading.Thread(target=combiner.submit, args=([f"b{i}" for i in range(8)],))
    big.start()
    outcome = run_threads(combiner, list(range(30)))
    big.join(timeout=10)
    # Then every write was committed, each shared transaction holds at most 5 events,
    # and the 8-event write went alone
    assert all(v is None for v in outcome.values())
    written = sorted(str(e) for call in write.calls for e in call)
    assert written == sorted([str(i) for i in range(30)] + [f"b{i}" for i in range(8)])
    assert all(len(call) <= 5 for call in write.calls if not str(call[0]).startswith("b"))
    assert [f"b{i}" for i in range(8)] in write.calls


def test_bulk_writes_skip_the_queue() -> None:
    # Given a writer whose first write blocks the shared queue
    release = threading.Event()
    calls: list[list[Any]] = []

    def write(events: Sequence[Any]) -> None:
        if events[0] == "slow":
            release.wait(5)
        calls.append(list(events))

    combiner = Combiner(write, bulk=3)
    slow = threading.Thread(target=combiner.submit, args=(["slow"],))
    slow.start()
    time.sleep(0.05)
    # When a bulk write arrives meanwhile
    combiner.submit(["x", "y", "z"])
    # Then it was written without waiting for the queue
    assert calls == [["x", "y", "z"]]
    release.set()
    slow.join(timeout=5)
    assert calls[-1] == ["slow"]


def test_bulk_writes_run_a_few_at_a_time() -> None:
    # Given a store that records how many bulk writes overlap
    running, peak, lock = [0], [0], threading.Lock()

    def write(events: Sequence[Any]) -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1

    combiner = Combiner(write, bulk=2, bulk_parallel=2)
    # When 12 threads submit bulk writes at once
    threads = [threading.Thread(target=combiner.submit, args=([i, i],)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    # Then never more than two ran together
    assert peak[0] == 2
