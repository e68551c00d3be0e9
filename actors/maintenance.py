"""Housekeeping on the `maintenance` queue."""

from __future__ import annotations

import dramatiq

from store import dead_letters, intake
from workers import queues
from workers.broker import database, settings
from workers.scheduling import periodic

# Far beyond any redelivery: RabbitMQ drops dead letters after 7 days, and catalog upserts and
# orders stay idempotent without their ids anyway (version guard, order primary key).
DEFAULT_RETENTION_DAYS = 30
CHUNK = 10_000


@dramatiq.actor(actor_name="prune_processed_events", queue_name=queues.name(queues.MAINTENANCE))
def prune_processed_events(older_than_days: int = DEFAULT_RETENTION_DAYS) -> None:
    """Delete idempotency records older than the retention (safe to run any time, twice)."""
    prune(older_than_days)


@periodic("maintenance.prune_processed_events", every_s=3600.0, unit="idempotency records pruned")
def prune_expired() -> int:
    """Drop idempotency records past the retention."""
    return prune(DEFAULT_RETENTION_DAYS)


def prune(older_than_days: int) -> int:
    """Delete in chunks (short transactions, no long lock); returns how many went."""
    return intake.prune_processed_events(database, older_than_days, CHUNK)


@periodic("maintenance.prune_rejected_messages", every_s=3600.0, unit="rejected messages pruned")
def prune_rejections() -> int:
    """Drop dead-letter records (their bodies) past LARDER_DEAD_LETTER_RETENTION_DAYS."""
    return dead_letters.prune(database, settings.dead_letter_retention_days, CHUNK)
