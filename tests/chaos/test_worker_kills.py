"""SIGKILL a worker in the middle of an intake burst, an order-checks burst and a batch
refresh: after a restart, every job's effect exists exactly once, and nothing confirmed is
lost. SIGTERM: in-flight work finishes within the grace period and the process exits on
time."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.chaos import worlds
from tests.chaos.fleet import Fleet, query, wait_for
from workers.pools import POOLS


def published(result: Any) -> int:
    """Events the publisher says RabbitMQ confirmed (`published N events in M messages`)."""
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.search(r"published (\d+) events? in", result.stdout)
    assert found, result.stdout
    return int(found[1])


def applied_intake(url: str) -> int:
    """Intake events applied: each is recorded once, activity by its own event id, the others
    in processed_events (in the transaction of their effect)."""
    return int(
        query(
            url,
            "SELECT (SELECT count(*) FROM processed_events) + (SELECT count(*) FROM activity_events)",
        )
    )


def assert_intake_exactly_once(url: str, events: worlds.EventFile) -> None:
    """Each event's effect exists once: rows of the append-only tables equal the events."""
    types = events.types()
    assert query(url, "SELECT count(*) FROM activity_events") == types["activity"]
    assert query(url, "SELECT count(*) FROM orders") == types["order.completed"]
    lines = sum(len(e["lines"]) for e in events.of_type("order.completed"))
    assert query(url, "SELECT count(*) FROM order_lines") == lines
    assert query(url, "SELECT count(*) FROM users") == types["user.upserted"]
    assert query(url, "SELECT count(*) FROM rejected_messages") == 0


def test_sigkill_mid_intake_burst(fleet: Fleet, scratch: Path, figures: Any) -> None:
    # Given a world of ~16k events, published in messages of 50 events, all confirmed
    events = worlds.world(scratch / "world.jsonl")
    confirmed = published(
        fleet.run("larder", "intake", "publish", str(events.path), "--batch-size", "50")
    )
    # And the intake pool consuming them
    worker = fleet.worker("intake")
    wait_for(
        lambda: applied_intake(fleet.database_url) >= events.count // 3, 120, "a third applied"
    )
    # When the worker is SIGKILLed mid-burst, then started again
    worker.signal(signal.SIGKILL)
    worker.wait(30)
    at_kill = applied_intake(fleet.database_url)
    # Then, once a worker is started again, every event is applied, exactly once
    restart_and_finish(fleet, events, confirmed, figures, applied_when_killed=at_kill)


def restart_and_finish(
    fleet: Fleet, events: worlds.EventFile, confirmed: int, figures: Any, **extra: Any
) -> None:
    """Start the intake pool again; every event must end applied exactly once (reported)."""
    fleet.worker("intake")
    wait_for(lambda: applied_intake(fleet.database_url) == events.count, 180, "all applied")
    assert_intake_exactly_once(fleet.database_url, events)
    applied = applied_intake(fleet.database_url)
    figures(published=events.count, confirmed=confirmed, applied=applied, **extra)


def lifecycle_events_applied(url: str) -> int:
    """Lifecycle events in the order states (each state remembers the sequences it applied)."""
    return int(query(url, "SELECT coalesce(sum(last_sequence), 0) FROM order_states"))


# Batches of 50, and one event per message as order services publish them (the worker merges
# those waiting in its prefetch: workers/coalesce.py; a merged message dies with the worker).
@pytest.mark.parametrize("batch_size", ["50", "1"])
def test_sigkill_mid_order_checks_burst(
    fleet: Fleet, scratch: Path, figures: Any, batch_size: str
) -> None:
    # Given the lifecycles of 400 orders (~10k events) published, all confirmed
    events = worlds.lifecycles(scratch / "orders.jsonl", orders=400)
    expected_sequences = _last_sequences(events)
    confirmed = published(
        fleet.run("larder", "intake", "publish", str(events.path), "--batch-size", batch_size)
    )
    # And the intake pool (events, order_checks) consuming them
    worker = fleet.worker("intake")
    total = sum(expected_sequences.values())
    wait_for(lambda: lifecycle_events_applied(fleet.database_url) >= total // 3, 120, "a third")
    # When the worker is SIGKILLed mid-burst, then started again
    worker.signal(signal.SIGKILL)
    worker.wait(30)
    fleet.worker("intake")
    # Then every order's state has applied every one of its events, once
    url = fleet.database_url
    wait_for(lambda: lifecycle_events_applied(url) == total, 180, "all lifecycle events")
    states = dict(_rows(url, "SELECT order_id, last_sequence FROM order_states"))
    assert states == expected_sequences
    assert query(url, "SELECT count(*) FROM rejected_messages") == 0
    figures(
        published=events.count,
        confirmed=confirmed,
        applied=_applied_lifecycle_events(url, events),
    )


def _last_sequences(events: worlds.EventFile) -> dict[str, int]:
    last: dict[str, int] = {}
    for event in events.events:
        last[event["order_id"]] = max(last.get(event["order_id"], 0), event["sequence"])
    return last


def _applied_lifecycle_events(url: str, events: worlds.EventFile) -> int:
    """Events at or below their order's applied sequence (sequences are 1..n per order)."""
    states = dict(_rows(url, "SELECT order_id, last_sequence FROM order_states"))
    return sum(1 for e in events.events if e["sequence"] <= states.get(e["order_id"], 0))


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    from tests.chaos.fleet import rows

    return rows(url, sql)


def _seed_and_train(fleet: Fleet, scratch: Path, users: int) -> worlds.EventFile:
    events = worlds.world(scratch / "world.jsonl", users=users)
    published(fleet.run("larder", "intake", "publish", str(events.path)))
    intake = fleet.worker("intake")
    wait_for(lambda: applied_intake(fleet.database_url) == events.count, 180, "world applied")
    intake.terminate()
    intake.wait(60)
    trained = fleet.run("larder", "recs", "train")
    assert trained.returncode == 0, trained.stdout + trained.stderr
    return events


def run_status(url: str, run_id: int) -> tuple[int, int, int]:
    """(total chunks, chunks done, users of done chunks), counted from the chunk rows."""
    return (
        int(query(url, "SELECT total_chunks FROM refresh_runs WHERE run_id = %s", run_id)),
        int(query(url, "SELECT count(done_at) FROM refresh_run_chunks WHERE run_id = %s", run_id)),
        int(
            query(
                url,
                "SELECT coalesce(sum(users), 0) FROM refresh_run_chunks"
                " WHERE run_id = %s AND done_at IS NOT NULL",
                run_id,
            )
        ),
    )


def test_sigkill_mid_batch_refresh(fleet: Fleet, scratch: Path, figures: Any) -> None:
    # Given a trained model and 2,000 users, and a tracked refresh of all of them in chunks
    # of 20 users (100 jobs)
    _seed_and_train(fleet, scratch, users=2000)
    url = fleet.database_url
    started = fleet.run("larder", "recs", "refresh", "--all", "--chunk", "20", "--detach")
    assert started.returncode == 0, started.stdout + started.stderr
    run_id = int(re.search(r"run (\d+):", started.stdout)[1])  # type: ignore[index]
    # And the refresh pool working on it
    refresh = fleet.worker("refresh", WORKER_PROCESSES="2")
    wait_for(lambda: run_status(url, run_id)[1] >= 25, 180, "a quarter of the chunks")
    # When the pool is SIGKILLed mid-run, then started again
    refresh.signal(signal.SIGKILL)
    refresh.wait(30)
    at_kill = run_status(url, run_id)[1]
    fleet.worker("refresh", WORKER_PROCESSES="2")
    # Then every chunk is done, once, and every user has lists
    wait_for(lambda: run_status(url, run_id)[1] == run_status(url, run_id)[0], 240, "run done")
    total, done, users = run_status(url, run_id)
    assert users == 2000
    assert query(url, "SELECT count(DISTINCT user_id) FROM recommendations") == 2000
    assert query(url, "SELECT count(*) FROM rejected_messages") == 0
    figures(published=total, confirmed=total, applied=done, unit="jobs", done_when_killed=at_kill)


def test_sigterm_finishes_in_flight_work_within_the_grace_period(
    fleet: Fleet, scratch: Path, figures: Any
) -> None:
    # Given an intake burst in progress: ~20k events in messages of 2 (seconds of work)
    events = worlds.world(scratch / "world.jsonl", users=900)
    confirmed = published(
        fleet.run("larder", "intake", "publish", str(events.path), "--batch-size", "2")
    )
    worker = fleet.worker("intake")
    wait_for(lambda: applied_intake(fleet.database_url) >= events.count // 4, 120, "a quarter")
    # When it gets SIGTERM (what Kubernetes sends at a rollout)
    worker.terminate()
    exited_s = worker.wait(POOLS["intake"].grace_s)
    # Then it exits within the pool's shutdown timeout, having finished what it had in flight
    # (no worker process killed, no traceback)
    assert exited_s <= POOLS["intake"].shutdown_timeout_s
    assert "Traceback" not in worker.output()
    assert "Killing worker process" not in worker.output()
    at_stop = applied_intake(fleet.database_url)
    # And a new worker applies the rest: nothing was lost, nothing applied twice
    restart_and_finish(
        fleet, events, confirmed, figures, exit_s=round(exited_s, 2), applied_at_stop=at_stop
    )
