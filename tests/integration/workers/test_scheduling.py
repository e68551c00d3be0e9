"""Several schedulers at once: each periodic duty fires once per period across them, and a
duty led by a scheduler that dies is taken over at once (the missed tick is caught up)."""

from __future__ import annotations

import threading
import time
from typing import Any

from store.scheduling import Leases
from workers.scheduling import Duty, run
from workers.settings import get_settings


def _scheduler(leases: Leases, plan: list[Duty], stop: threading.Event) -> threading.Thread:
    def loop() -> None:
        while not stop.is_set():
            run(plan, leases, once=True)
            time.sleep(0.01)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def test_two_schedulers_fire_each_duty_once_per_period(postgres_server: Any, db: Any) -> None:
    url = get_settings().database_url.get_secret_value()
    runs: list[tuple[str, float]] = []

    def duty(who: str) -> Duty:
        def tick() -> int:
            runs.append((who, time.monotonic()))
            return 1

        return Duty("test.tick", 0.2, tick)

    # Given two schedulers, each with its own connection and its own copy of the plan
    first, second, stop = Leases(url), Leases(url), threading.Event()
    threads = [_scheduler(first, [duty("a")], stop), _scheduler(second, [duty("b")], stop)]
    # When they run side by side for two seconds
    time.sleep(2.0)
    # Then the duty ran about once per 0.2 s period in all, all by one of them
    assert {who for who, _ in runs} in ({"a"}, {"b"})
    assert 8 <= len(runs) <= 11, runs
    leader = first if runs[0][0] == "a" else second
    follower = second if leader is first else first
    # When the leader dies (its connection, and so its lock, goes)
    before = len(runs)
    leader.close()
    leader._url = "postgresql://nobody@127.0.0.1:1/none"  # and it cannot come back
    time.sleep(1.0)
    stop.set()
    for thread in threads:
        thread.join(timeout=5)
    # Then the other scheduler took the duty over at once and kept its period
    taken = [who for who, _ in runs[before:]]
    assert taken and set(taken) == {"b" if leader is first else "a"}
    assert 4 <= len(taken) <= 6, taken
    assert "test.tick" in follower.held()
    follower.close()
