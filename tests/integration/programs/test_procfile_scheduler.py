"""The Procfile's scheduler line, run as ops run it: its sweeps open problems whose timer is
due, and it serves the order-check metrics (open problems counted in Postgres at scrape)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from actors.order_checks import apply
from tests.conftest import wait_for
from tests.integration.actors.test_order_checks import paid_order, problems
from tests.integration.programs.test_procfile_worker import ROOT, free_port, metrics, procfile
from tests.support.order_events import at
from workers import clock


def test_procfile_scheduler_opens_due_problems_and_exports_metrics(db: Any) -> None:
    # Given an order paid long ago (its venue_not_accepting timer is due on the real clock)
    with clock.use(clock.FixedClock(at(1))):
        apply(paid_order())
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "SCHEDULER_METRICS_PORT": str(port),
    }
    # When the Procfile's scheduler runs
    proc = subprocess.Popen(
        ["sh", "-c", procfile("scheduler")], cwd=ROOT, env=env, start_new_session=True
    )
    try:
        # Then its sweep opens the problem, and its metrics show it opened and open
        wait_for(lambda: problems(db), timeout=30)
        text = wait_for(lambda: "larder_problems_open{" in metrics(port) and metrics(port))
        assert 'larder_problems_open{muted="false",rule="venue_not_accepting"} 1.0' in text
        assert 'larder_problems_opened_total{rule="venue_not_accepting"} 1.0' in text
        assert "larder_problem_detection_lag_seconds_bucket" in text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
