"""Several worker replicas (separate processes) and several schedulers on the same queues and
database: no double effects; each duty has one leader at a time, and when the leader is
SIGKILLed the other takes its duties over and catches up what it missed."""

from __future__ import annotations

import re
import signal
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.chaos import worlds
from tests.chaos.fleet import Fleet, Process, query, rows, wait_for
from tests.chaos.test_worker_kills import applied_intake, assert_intake_exactly_once, published


def leaders(schedulers: list[Process]) -> dict[str, list[int]]:
    """Duty -> the schedulers (by index) that said they took its lead."""
    found: dict[str, list[int]] = {}
    for n, scheduler in enumerate(schedulers):
        for duty in re.findall(r"this scheduler now leads (\S+)", scheduler.output()):
            found.setdefault(duty, []).append(n)
    return found


def test_replicas_and_schedulers_without_double_effects(
    fleet: Fleet, scratch: Path, figures: Any
) -> None:
    # Given two processes of each pool and two schedulers, on the same queues and database
    for pool in ("intake", "intake", "refresh", "refresh", "batch", "batch"):
        fleet.worker(pool, WORKER_PROCESSES="1")
    schedulers = [fleet.scheduler(), fleet.scheduler()]
    url = fleet.database_url
    # When a world and the lifecycles of 200 orders are published
    events = worlds.world(scratch / "world.jsonl", users=600)
    orders = worlds.lifecycles(scratch / "orders.jsonl", orders=200)
    confirmed = sum(
        published(fleet.run("larder", "intake", "publish", str(path), "--batch-size", "100"))
        for path in (events.path, orders.path)
    )
    total = events.count + orders.count
    wait_for(lambda: applied_intake(url) == total, 240, "every event applied")
    # Then the schedulers train a model and every user gets lists
    wait_for(
        lambda: query(url, "SELECT count(DISTINCT user_id) FROM recommendations") == 600,
        240,
        "every user's lists",
        1.0,
    )
    # And every effect exists once: intake rows, one record per problem and subject
    assert_intake_exactly_once_with(url, events)
    records = Counter(
        rows(url, "SELECT rule, coalesce(order_id, venue_id::text) FROM order_problems")
    )
    assert all(n == 1 for n in records.values()), records.most_common(3)
    # And each duty had one leader
    led = leaders(schedulers)
    assert led and all(len(who) == 1 for who in led.values()), led
    # When the scheduler leading the change sweep is SIGKILLed
    duty = "recs.sweep_changed_users"
    killed = led[duty][0]
    schedulers[killed].signal(signal.SIGKILL)
    schedulers[killed].wait(30)
    killed_at = datetime.now(UTC)
    time.sleep(1.0)  # ticks missed while nobody leads
    # And a user orders meanwhile
    order = events.of_type("order.completed")[0]
    again = {
        **order,
        "event_id": "after-the-kill",
        "order_id": "AFTER-KILL",
        "placed_at": killed_at.isoformat(),
    }
    published(
        fleet.run(
            "larder", "intake", "publish", str(worlds.write(scratch / "one.jsonl", [again]).path)
        )
    )
    # Then the other scheduler takes the duty over and refreshes that user's lists
    survivor = schedulers[1 - killed]
    wait_for(lambda: duty in leaders([survivor]), 60, "the other scheduler leads the sweep")
    refreshed = "SELECT count(*) FROM recommendations WHERE user_id = %s AND computed_at > %s"
    wait_for(lambda: query(url, refreshed, order["user_id"], killed_at), 120, "lists refreshed")
    figures(
        published=total + 1,
        confirmed=confirmed + 1,
        applied=applied_intake(url),
        schedulers=2,
        worker_processes=6,
        model_versions=int(query(url, "SELECT count(*) FROM model_versions")),
        problem_records=sum(records.values()),
    )


def assert_intake_exactly_once_with(url: str, events: worlds.EventFile) -> None:
    assert_intake_exactly_once(url, events)
