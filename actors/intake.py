"""Event intake: catalog upserts and user events, one event or a batch per message."""

from __future__ import annotations

from typing import Any

import dramatiq

from domain import intake as plan
from schemas import InvalidMessage, parse_intake
from store import intake as store
from workers import queues
from workers.broker import database


@dramatiq.actor(
    actor_name="ingest", queue_name=queues.name(queues.EVENTS), throws=(InvalidMessage,)
)
def ingest(message: dict[str, Any]) -> None:
    """Apply one intake message; duplicates and stale versions change nothing."""
    rows = plan.plan(parse_intake(message))
    with database.unit_of_work(single_statement=len(rows) == 1) as uow:
        store.apply(uow.connection, rows)
