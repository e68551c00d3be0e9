"""Event intake: catalog upserts and user events, one event or a batch per message."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import dramatiq

from domain import intake as plan
from schemas import Event, InvalidMessage, parse_intake
from store import intake as store
from store.combiner import Combiner
from workers import metrics, queues
from workers.broker import database


def write(events: Sequence[Event]) -> None:
    """One transaction (a lone statement when the events are all of one type)."""
    rows = plan.plan(events)
    with database.unit_of_work(single_statement=len(rows) == 1) as uow:
        store.apply(uow.connection, rows)


# Messages written at the same moment by this process's threads share a commit.
_writes: Combiner[Event] = Combiner(write)


@dramatiq.actor(
    actor_name="ingest", queue_name=queues.name(queues.EVENTS), throws=(InvalidMessage,)
)
def ingest(message: dict[str, Any]) -> None:
    """Apply one intake message; duplicates and stale versions change nothing."""
    events = parse_intake(message)
    _writes.submit(events)
    queue = ingest.queue_name
    for kind, count in Counter(event.type for event in events).items():
        metrics.EVENTS_INGESTED.labels(queue, kind).inc(count)
