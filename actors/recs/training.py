"""Training the shared recommendation artefacts as a new, evaluated model version."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import dramatiq

from domain.recs import artefacts, bundle
from domain.recs.bundle import MODEL_KIND as KIND
from domain.recs.evaluation import NothingToEvaluate, evaluate
from store.recs import registry
from workers import queues
from workers.broker import database
from workers.scheduling import periodic


def train_version(activate: bool = True) -> str:
    """Train on all order history, evaluate on each user's held-out last order (same code),
    store the version and, unless told not to, switch to it atomically."""
    with database.unit_of_work() as uow:  # one snapshot of the history
        baskets = list(registry.training_baskets(uow.connection))
    try:
        metrics = evaluate(baskets)
    except NothingToEvaluate:
        metrics = {}
    model = bundle.train(baskets)
    version = f"{KIND}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"
    trained_on = {"orders": len(baskets), "users": len({b.user_id for b in baskets})}
    with database.unit_of_work() as uow:
        registry.save(uow.connection, version, KIND, artefacts.to_bytes(model), trained_on, metrics)
        if activate:
            registry.activate(uow.connection, KIND, version)
    return version


@dramatiq.actor(actor_name="train_models", queue_name=queues.name(queues.BATCH), max_retries=3)
def train_models() -> None:
    """Scheduled or on demand; each run is a new version (the previous ones stay). The cold-start
    lists follow the new version at once; users' lists follow as they refresh (TTL, events)."""
    from actors.recs import refresh_fallbacks

    train_version()
    refresh_fallbacks()


MODEL_TTL = timedelta(hours=24)


@periodic("recs.retrain", every_s=600.0, unit="trainings enqueued")
def train_if_stale(ttl: timedelta = MODEL_TTL) -> int:
    """Enqueue `train_models` when the active model is older than `ttl`, or there is none, or
    it was stored in an artefact format this code no longer reads (right after an upgrade that
    changed it, when refreshes cannot load it); returns whether it did. The scheduler runs this
    when it starts and every 10 minutes, so a new version is at most ttl + 10 min + training
    time old."""
    with database.unit_of_work() as uow:
        age = registry.active_age(uow.connection, KIND)
        found = registry.active(uow.connection, KIND) if age is not None and age < ttl else None
    if found is not None and artefacts.readable(found[1]):
        return False
    train_models.send()
    return True
