"""Queues are named per workload so ops can run a separate worker pool for each."""

from __future__ import annotations

from collections.abc import Iterable

from workers.settings import get_settings

EVENTS = "events"
RECS = "recs"
PERSONALISATION = "personalisation"
ORDER_CHECKS = "order_checks"
BATCH = "batch"
MAINTENANCE = "maintenance"
WORKLOADS = (EVENTS, RECS, PERSONALISATION, ORDER_CHECKS, BATCH, MAINTENANCE)
# Dramatiq's RabbitMQ broker declares, beside each queue, its delay queue and its dead letters.
SUFFIXES = ("", ".DQ", ".XQ")


def name(workload: str) -> str:
    """The queue for a workload, with the deployment's prefix (tests use a unique one)."""
    return get_settings().queue_prefix + workload


def workload_of(queue: str) -> str:
    """The workload of one of this deployment's queues (`<prefix>events` -> `events`)."""
    prefix = get_settings().queue_prefix
    return queue[len(prefix) :] if prefix and queue.startswith(prefix) else queue


def names_under(prefix: str, workloads: Iterable[str] = WORKLOADS) -> list[str]:
    """Every queue a worker declares under `prefix`: `<prefix><workload>{,.DQ,.XQ}`."""
    return [prefix + workload + suffix for workload in workloads for suffix in SUFFIXES]


def delete_queues(url: str, prefix: str, workloads: Iterable[str] = WORKLOADS) -> None:
    """Delete every queue of `prefix` (a test session's, a simulation's, a benchmark's), with its
    messages; a queue that does not exist is no error. Never call it with the deployment's own
    prefix: that deletes the fleet's queues."""
    import pika

    if not prefix:
        raise ValueError("no prefix: refusing to delete the deployment's unprefixed queues")
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        for queue in names_under(prefix, workloads):
            channel.queue_delete(queue)
    finally:
        connection.close()
