"""Queues are named per workload so ops can run a separate worker pool for each."""

from __future__ import annotations

from workers.settings import get_settings

EVENTS = "events"
RECS = "recs"
PERSONALISATION = "personalisation"
ORDER_CHECKS = "order_checks"
BATCH = "batch"
MAINTENANCE = "maintenance"
WORKLOADS = (EVENTS, RECS, PERSONALISATION, ORDER_CHECKS, BATCH, MAINTENANCE)


def name(workload: str) -> str:
    """The queue for a workload, with the deployment's prefix (tests use a unique one)."""
    return get_settings().queue_prefix + workload
