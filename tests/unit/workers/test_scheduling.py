"""The scheduler's duties: registered per capability, run when due and led, logged."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

import actors
from workers import scheduling
from workers.scheduling import (
    SUMMARY_S,
    Alone,
    Duty,
    _run_if_led,
    _summarise,
    describe,
    periodic,
    registered,
    run,
)


def test_every_capability_registers_its_own_duties() -> None:
    # Given the actor modules, imported as the scheduler imports them
    assert actors.CAPABILITIES
    # When the scheduler asks what is registered
    names = {duty.name for duty in registered()}
    # Then each capability's duties are there under its own name
    assert {
        "recs.sweep_changed_users",
        "recs.refresh_stale_lists",
        "recs.retrain",
        "order_checks.sweep",
        "order_checks.prune",
        "order_checks.silences",
        "maintenance.prune_processed_events",
    } <= names
    assert {duty.capability for duty in registered(only=["order_checks"])} == {"order_checks"}


def test_intervals_can_be_overridden_and_unknown_names_are_refused() -> None:
    plan = registered(every={"recs.sweep_changed_users": 2.0})
    assert next(d for d in plan if d.name == "recs.sweep_changed_users").every_s == 2.0
    with pytest.raises(KeyError, match="no such duties"):
        registered(every={"recs.nope": 1.0})


def test_a_name_is_registered_once() -> None:
    @periodic("test.unique", every_s=1.0)
    def first() -> int:
        return 0

    with pytest.raises(ValueError, match="registered twice"):

        @periodic("test.unique", every_s=1.0)
        def second() -> int:
            return 0

    scheduling._REGISTRY.pop("test.unique")


def test_a_failing_duty_does_not_stop_the_others() -> None:
    calls: list[str] = []

    def broken() -> int:
        raise RuntimeError("down")

    def fine() -> int:
        calls.append("ran")
        return 1

    run([Duty("t.broken", 1.0, broken), Duty("t.fine", 1.0, fine)], once=True)
    assert calls == ["ran"]


def test_only_duties_this_scheduler_leads_run() -> None:
    class LeadsOne:
        def leads(self, duty: str) -> bool:
            return duty == "t.mine"

    calls: list[str] = []

    def recorder(name: str) -> Callable[[], int]:
        def record() -> int:
            calls.append(name)
            return 1

        return record

    plan = [Duty("t.mine", 1.0, recorder("mine")), Duty("t.theirs", 1.0, recorder("theirs"))]
    run(plan, LeadsOne(), once=True)
    assert calls == ["mine"]


def test_runs_are_logged_with_counts_and_quiet_when_idle(caplog: pytest.LogCaptureFixture) -> None:
    # Given a slow duty that did something and one that did nothing
    plan = [
        Duty("t.busy", 600.0, lambda: 12, unit="users enqueued"),
        Duty("t.idle", 600.0, lambda: 0, unit="users enqueued"),
    ]
    # When they run once
    with caplog.at_level(logging.INFO, logger="larder.scheduler"):
        run(plan, once=True)
    # Then the busy one says what it did at INFO, the idle one says nothing at INFO
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert messages == ["t.busy: 12 users enqueued"]


def test_a_fast_duty_sums_its_runs_in_one_line_per_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a sweep every 0.5 s that enqueues 3 users each run
    duty = Duty("t.sweep", 0.5, lambda: 3, unit="users enqueued")
    with caplog.at_level(logging.INFO, logger="larder.scheduler"):
        # When it runs 10 times within the summary period
        for _ in range(10):
            _run_if_led(duty, Alone())
        quiet = [r for r in caplog.records if r.levelno >= logging.INFO]
        # And the period ends
        _summarise(duty, now=duty.said_at + SUMMARY_S + 1)
    # Then it said one line the first time, none while the period ran, one summing the rest
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert len(quiet) == 1 and quiet[0].getMessage().startswith(
        "t.sweep: 3 users enqueued in 1 runs"
    )
    assert lines[-1].startswith("t.sweep: 27 users enqueued in 9 runs over ")


def test_the_plan_is_described_once_at_start() -> None:
    text = describe([Duty("recs.x", 600.0, lambda: 0, description="Refresh stale lists.")])
    assert "every 10 min  recs.x: Refresh stale lists." in text
