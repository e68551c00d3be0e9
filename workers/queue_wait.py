"""How long messages waited in their queue: the backlog's age as the workers meet it."""

from __future__ import annotations

import time
from typing import Any

import dramatiq

from workers import metrics


class QueueWait(dramatiq.Middleware):
    """Observes, when a worker starts a message, the time since it was enqueued
    (`larder_message_queue_wait_seconds{queue}`); the alert on backlog age reads it."""

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        waited_s = max(0.0, time.time() - message.message_timestamp / 1000)
        metrics.QUEUE_WAIT.labels(message.queue_name).observe(waited_s)
