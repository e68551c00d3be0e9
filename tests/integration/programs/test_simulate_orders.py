"""`larder simulate orders` end to end at a small size: lifecycles through RabbitMQ, the
in-process worker and a sweeper on the same scaled clock, then the inbox against the truth."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner

from actors.order_checks import sweep_order_checks
from programs import simulate_orders as sim
from programs.cli import main
from store.server import database_name, drop_database, schema_problem
from synthetic.order_checks import RULES, SimulationConfig, cards_per_order, score_secondary
from tests.conftest import TEST_DB_URL, scalar
from workers import clock, queues

SPEED = 120.0  # a lifecycle of ~70 simulated minutes takes ~35 s


def test_small_simulation_reaches_the_precision_and_recall_bar(
    broker: Any, worker: Any, db: Any
) -> None:
    # Given the checks on a clock running 120x, swept every 0.25 s as the scheduler does
    scaled = clock.ScaledClock(SPEED, epoch=datetime.now(UTC))
    config = sim.private_run(SimulationConfig(orders=160, fault_rate=0.3, seed=3, window_minutes=5))
    stop = threading.Event()
    sweeps_behind = _sample("larder_order_check_sweeps_behind_total")
    with clock.use(scaled):
        sweeper = threading.Thread(target=_sweep_until, args=(stop,), daemon=True)
        sweeper.start()
        # When the simulation publishes its lifecycles through RabbitMQ in (scaled) real time
        try:
            outcome = sim.run(
                config,
                broker,
                db,
                scaled,
                queues.name(queues.ORDER_CHECKS),
                settle_s=1.0,
                echo=lambda _: None,
            )
        finally:
            stop.set()
            sweeper.join()
    # Then every rule had faults injected, and found them all and nothing else
    scores = {s.rule: s for s in outcome.scores}
    assert set(scores) == set(RULES) and all(s.injected for s in scores.values())
    for rule, s in scores.items():
        assert s.precision >= 0.95 and s.recall >= 0.95, (rule, s)
    # And the symptoms of the cascades were found muted under their causes: one card per order
    faults, detections = outcome.simulation.faults, outcome.detections
    for secondary in score_secondary(faults, detections):
        assert secondary.injected and secondary.detected == secondary.muted == secondary.injected
    assert set(cards_per_order(faults, detections)) == {1}
    # And the timers were caught within 2 s (real) of their due time -- unless the machine was
    # too busy for the workers to keep up at 120x: then the sweeps judged behind now, at the
    # workers' watermark (no false alarm, a later detection), and only a loose bound holds
    behind = _sample("larder_order_check_sweeps_behind_total") > sweeps_behind
    for rule in ("venue_not_accepting", "payment_pending", "stuck_at_venue", "items_unavailable"):
        p95 = scores[rule].lag(0.95)
        assert p95 is not None and p95 / SPEED <= (10.0 if behind else 2.0), (
            rule,
            behind,
            scores[rule].lags_s,
        )


def _sample(name: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name) or 0.0


def _sweep_until(stop: threading.Event) -> None:
    while not stop.wait(0.25):
        try:
            sweep_order_checks()
        except Exception:  # as the scheduler does: log, try again next time
            logging.getLogger(__name__).exception("sweep failed")


def test_simulating_on_a_fleet_with_another_clock_is_refused() -> None:
    # Given a fleet on the real clock (this process's settings: LARDER_CLOCK_SPEED=1)
    # When a 60x simulation is asked to use it
    result = CliRunner().invoke(main, ["simulate", "orders", "--fleet", "running", "--speed", "60"])
    # Then it refuses and says how to run it
    assert result.exit_code == 2
    assert "LARDER_CLOCK_SPEED=60" in result.output


def test_simulate_command_runs_its_own_fleet_in_a_database_of_its_own(db: Any) -> None:
    # Given nothing consuming (the command starts the Procfile's worker and the sweeps itself)
    # and the configured database (the operator's) with an empty inbox
    # When a short simulation with faults runs at 200x, keeping its database to look at
    command = ["simulate", "orders", "--orders", "30", "--fault-rate", "0.3", "--speed", "200"]
    result = subprocess.run(
        [sys.executable, "-m", "programs.cli", *command, "--json", "--keep-db"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    kept = _kept_database(result.stderr)
    try:
        # Then it ran end to end on the scaled clock: every rule judged, the faults found and
        # no false alarm
        assert result.returncode == 0, result.stderr[-2000:]
        report = json.loads(result.stdout)
        assert report["passed"] and report["false_alarms"] == []
        assert [r["rule"] for r in report["rules"]] == list(RULES)
        detected = sum(r["detected"] for r in report["rules"])
        assert detected > 0
        # And its problems are in its own database, named after the configured one
        assert kept.rsplit("/", 1)[1].startswith(f"{database_name(TEST_DB_URL)}_sim_")
        assert scalar_at(kept, "SELECT count(*) FROM order_problems") >= detected
        # And the configured database's inbox never saw any of it
        assert scalar(db, "SELECT count(*) FROM order_problems") == 0
        assert scalar(db, "SELECT count(*) FROM order_states") == 0
    finally:
        drop_database(kept)


def _kept_database(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("kept the run's database: ")]
    assert lines, stderr[-2000:]
    return lines[-1].split(": ", 1)[1]


def scalar_at(url: str, sql: str) -> Any:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
    return row[0] if row else None


def test_a_runs_own_database_is_migrated_and_dropped_at_the_end(postgres_server: str) -> None:
    # Given the configured database's URL / When a run's own database is opened and closed
    with sim.own_database(TEST_DB_URL, "0a1b2c") as url:
        # Then it sits beside the configured one, migrated (the checks' tables are there)
        assert database_name(url) == f"{database_name(TEST_DB_URL)}_sim_0a1b2c"
        assert schema_problem(url, "order_problems") is None
    # And it is gone afterwards
    assert schema_problem(url, "order_problems") is not None
    assert "does not exist" in str(schema_problem(url, "order_problems"))


def test_a_kept_database_outlives_the_run(postgres_server: str) -> None:
    with sim.own_database(TEST_DB_URL, "3d4e5f", keep=True) as url:
        pass
    try:
        assert schema_problem(url, "order_problems") is None
    finally:
        drop_database(url)


def test_simulating_in_place_without_a_migrated_database_fails_before_it_starts(
    postgres_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a configured database that does not exist (nobody ran `larder db upgrade`)
    missing = postgres_server.rsplit("/", 1)[0] + "/larder_never_created"
    monkeypatch.setenv("DATABASE_URL", missing)
    # When a simulation is started in it
    result = subprocess.run(
        [sys.executable, "-m", "programs.cli", "simulate", "orders", "--orders", "5", "--in-place"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Then it stops at once, before any fleet starts, and says what to do
    assert result.returncode == 1
    assert "run `larder db upgrade`" in result.stderr
    assert "starting a fleet" not in result.stderr


def test_simulating_in_place_beside_a_scheduler_on_another_clock_fails_before_it_starts(
    db: Any,
) -> None:
    # Given a migrated database where a scheduler leads the order checks' sweep (its lock held)
    import psycopg

    from store.scheduling import TRY_LOCK, lock_key

    with psycopg.connect(TEST_DB_URL, autocommit=True) as scheduler:
        assert scheduler.execute(TRY_LOCK, {"key": lock_key("order_checks.sweep")}).fetchone()
        # When a simulation is started in that database with a fleet of its own
        command = ["simulate", "orders", "--orders", "5", "--database-url", TEST_DB_URL]
        result = subprocess.run(
            [sys.executable, "-m", "programs.cli", *command],
            capture_output=True,
            text=True,
            timeout=60,
        )
    # Then it stops at once, before any fleet starts, and says why and what to do
    assert result.returncode == 1, result.stderr
    assert "a scheduler already leads order_checks.sweep on this database" in result.stderr
    assert "LARDER_CLOCK_SPEED=60" in result.stderr
    assert "starting a fleet" not in result.stderr
    # And with no scheduler there, nothing is held that the run's own scheduler would miss
    from store.scheduling import led_elsewhere

    assert led_elsewhere(TEST_DB_URL, ["order_checks.sweep"]) == []
