"""Prometheus metrics of the order-problem checks.

Counters and the lag histogram are incremented where records change: in `dramatiq` worker
processes (multiprocess mode, served by dramatiq's exposition server, see Procfile) and in the
scheduler's sweeps (served by `larder scheduler --metrics-port`). Open problems per rule are
not a gauge any process could own: `OpenProblems` counts them in Postgres at scrape time, in
the scheduler only. Sum the counters over both targets, e.g.
`sum by (rule) (rate(larder_problems_opened_total[5m]))`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

OPENED = Counter("larder_problems_opened_total", "Problem records opened.", ["rule"])
RESOLVED = Counter(
    "larder_problems_resolved_total",
    "Problem records resolved, by how: condition_cleared, order_finished or agent.",
    ["rule", "how"],
)
DETECTION_LAG = Histogram(
    "larder_problem_detection_lag_seconds",
    "From the instant a problem became true (`since`) to its record opening (`opened_at`), in "
    "real seconds (clock seconds / LARDER_CLOCK_SPEED).",
    ["rule"],
    buckets=(0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0),
)
SWEEPS_BEHIND = Counter(
    "larder_order_check_sweeps_behind_total",
    "Sweeps that judged at the workers' low-water mark, behind now: they were busy or behind.",
)
ORDER_EVENTS = Counter(
    "larder_order_events_total", "Lifecycle events received, by outcome.", ["outcome"]
)


def record(report: Any, speed: float = 1.0) -> None:
    """Count what one committed transaction did (a `store.order_checks.Report`)."""
    for rule, lag_s in report.opened:
        OPENED.labels(rule).inc()
        DETECTION_LAG.labels(rule).observe(max(0.0, lag_s) / speed)
    for rule, how in report.resolved:
        RESOLVED.labels(rule, how).inc()
    if report.events:
        ORDER_EVENTS.labels("applied").inc(report.events - report.duplicates)
    if report.duplicates:
        ORDER_EVENTS.labels("duplicate").inc(report.duplicates)


class OpenProblems(Collector):
    """`larder_problems_open{rule, muted}`: records not resolved, counted at scrape time."""

    def __init__(self, database: Any) -> None:
        self.database = database

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from store import order_checks

        gauge = GaugeMetricFamily(
            "larder_problems_open", "Problem records open now.", labels=["rule", "muted"]
        )
        with self.database.unit_of_work(single_statement=True) as uow:
            for rule, loud, quiet in order_checks.open_problem_counts(uow.connection):
                gauge.add_metric([rule, "false"], loud)
                gauge.add_metric([rule, "true"], quiet)
        yield gauge
