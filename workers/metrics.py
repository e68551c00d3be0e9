"""larder's own Prometheus metrics (dramatiq's middleware adds per-actor message metrics).

In a `dramatiq` worker, PROMETHEUS_MULTIPROC_DIR is set before start (see Procfile) so these
counters are shared across processes and served by dramatiq's exposition server.
"""

from __future__ import annotations

from prometheus_client import Counter

REJECTED = Counter(
    "larder_rejected_messages_total",
    "Messages dead-lettered without retry, by reason kind.",
    ["queue_name", "actor_name", "kind"],
)
