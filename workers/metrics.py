"""larder's own Prometheus metrics of the worker processes (dramatiq's middleware adds
per-actor message metrics; scrape-time gauges of the fleet: workers/fleet_metrics.py). Every
metric is documented in docs/operations.md ("Metrics"); a test keeps that table complete.

In a `dramatiq` worker, PROMETHEUS_MULTIPROC_DIR is set before start (`larder worker`) so these
are shared across processes and served by dramatiq's exposition server.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from prometheus_client import Counter, Histogram

REJECTED = Counter(
    "larder_rejected_messages_total",
    "Messages dead-lettered without retry, by queue, actor and reason kind.",
    ["queue_name", "actor_name", "kind"],
)
EVENTS_INGESTED = Counter(
    "larder_events_ingested_total",
    "Intake events committed (a duplicate changes nothing but counts), by queue and type.",
    ["queue", "type"],
)
MERGED = Counter(
    "larder_messages_merged_total",
    "Deliveries merged with others of their actor into one message before a worker took them "
    "(workers/coalesce.py), by queue.",
    ["queue"],
)
LAG_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 86400.0)
LIST_FRESHNESS = Histogram(
    "larder_list_freshness_seconds",
    "Per list written: the age of the newest input (order, activity) it reflects, at write.",
    ["surface"],
    buckets=LAG_BUCKETS,
)
RECOMPUTE_LAG = Histogram(
    "larder_recompute_lag_seconds",
    "From a user's change mark (intake applied the order or activity) to the refreshed lists "
    "committed; one observation per event-driven job (its oldest mark).",
    buckets=LAG_BUCKETS,
)
QUEUE_WAIT = Histogram(
    "larder_message_queue_wait_seconds",
    "From a message's enqueue to a worker starting it (retries include their backoff), by queue.",
    ["queue"],
    buckets=LAG_BUCKETS,
)


def observe_many(histogram: Histogram, values: Sequence[float] | np.ndarray) -> None:
    """Observe many values at once: one increment per bucket instead of one observation per
    value (a refresh writes thousands of lists per job). `histogram` is one labelled child."""
    if len(values) == 0:
        return
    array = np.asarray(values, dtype=np.float64)
    bounds = np.asarray(histogram._upper_bounds, dtype=np.float64)
    counts = np.bincount(np.searchsorted(bounds, array, side="left"), minlength=len(bounds))
    for bucket, count in zip(histogram._buckets, counts, strict=False):
        if count:
            bucket.inc(int(count))
    histogram._sum.inc(float(array.sum()))
