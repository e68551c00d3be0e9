"""Training the shared recommendation artefacts as a new, evaluated model version."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import dramatiq

from domain.recs import artefacts, items
from domain.recs.evaluation import NothingToEvaluate, evaluate
from domain.recs.items import MODEL_KIND as KIND
from store import registry
from workers import queues
from workers.broker import database


def train_version(activate: bool = True) -> str:
    """Train on all order history, evaluate on each user's held-out last order (same code),
    store the version and, unless told not to, switch to it atomically."""
    with database.unit_of_work() as uow:  # one snapshot of the history
        baskets = list(registry.training_baskets(uow.connection))
    try:
        metrics = evaluate(baskets)
    except NothingToEvaluate:
        metrics = {}
    model = items.train(baskets)
    version = f"{KIND}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"
    trained_on = {"orders": len(baskets), "users": len({b.user_id for b in baskets})}
    with database.unit_of_work() as uow:
        registry.save(uow.connection, version, KIND, artefacts.to_bytes(model), trained_on, metrics)
        if activate:
            registry.activate(uow.connection, KIND, version)
    return version


@dramatiq.actor(actor_name="train_models", queue_name=queues.name(queues.BATCH), max_retries=3)
def train_models() -> None:
    """Scheduled or on demand; each run is a new version (the previous ones stay)."""
    train_version()
