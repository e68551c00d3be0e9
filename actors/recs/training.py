"""Training the shared recommendation artefacts as a new, evaluated model version.

A model is only worth serving when it could be evaluated: trained on nothing (a fresh
install) or on too little for one user to have a held-out order, it is not stored, let alone
activated (`NotEnoughHistory`); readers keep their cold-start fallbacks meanwhile.

The scheduler's `recs.retrain` duty asks for a new version when the data has changed enough to
matter, not only by age: the first orders after an empty start, the orders doubled since the
active version was trained, a version older than MODEL_TTL, or one stored in an artefact format
this code no longer reads (right after an upgrade). It asks once per state of the data: a
training that found too little history is asked again when orders change.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta

import dramatiq

from domain.recs import artefacts, bundle
from domain.recs.bundle import MODEL_KIND as KIND
from domain.recs.evaluation import NothingToEvaluate, evaluate
from store import recs
from store.recs import registry
from workers import queues
from workers.broker import database
from workers.scheduling import periodic

log = logging.getLogger("larder.recs")

MODEL_TTL = timedelta(hours=24)
GROWTH = 2.0  # retrain when the orders are this many times those the active model saw
FIRST_ORDERS_CAP = 100_000  # without a model, orders are counted up to this many
ASK_AGAIN_S = 1800.0  # the same state of the data is asked for again after this long


class NotEnoughHistory(Exception):
    """Too little order history to evaluate a model (no user has two orders with items)."""

    def __init__(self, orders: int, users: int) -> None:
        super().__init__(
            f"not enough order history to train: {orders} orders of {users} users, and a model"
            " is only stored once one user has two orders to evaluate it on; no model was"
            " stored (readers keep the cold-start fallbacks)"
        )
        self.orders, self.users = orders, users


def train_version(activate: bool = True) -> str:
    """Train on all order history, evaluate on each user's held-out last order (same code),
    store the version and, unless told not to, switch to it atomically. Raises
    NotEnoughHistory, storing nothing, when the history cannot evaluate a model."""
    with database.unit_of_work() as uow:  # one snapshot of the history
        baskets = list(registry.training_baskets(uow.connection))
    users = len({b.user_id for b in baskets})
    try:
        metrics = evaluate(baskets)
    except NothingToEvaluate:
        raise NotEnoughHistory(len(baskets), users) from None
    model = bundle.train(baskets)
    version = f"{KIND}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"
    trained_on = {"orders": len(baskets), "users": users}
    with database.unit_of_work() as uow:
        registry.save(uow.connection, version, KIND, artefacts.to_bytes(model), trained_on, metrics)
        if activate:
            registry.activate(uow.connection, KIND, version)
    return version


@dramatiq.actor(actor_name="train_models", queue_name=queues.name(queues.BATCH), max_retries=3)
def train_models() -> None:
    """Scheduled or on demand; each run is a new version (the previous ones stay). The cold-start
    lists follow the new version at once, and users without any list yet (who were refreshed
    before a model existed) are refreshed; the others follow as they refresh (TTL, events)."""
    from actors.recs import refresh_fallbacks, refresh_missing_lists

    try:
        version = train_version()
    except NotEnoughHistory as error:
        log.info("%s", error)
        return
    log.info("trained and activated %s", version)
    refresh_fallbacks()
    refresh_missing_lists()


_asked: tuple[str, int, float] | None = None  # (why, orders, when) of the last request
_asked_lock = threading.Lock()
_readable: dict[str, bool] = {}  # artefact format check, per version (it does not change)


@periodic("recs.retrain", every_s=15.0, unit="trainings enqueued")
def retrain_when_due(ttl: timedelta = MODEL_TTL) -> int:
    """Ask for a new model version when the data calls for one."""
    global _asked
    why, orders = _due(ttl)
    if why is None:
        return 0
    with _asked_lock:
        asked_already = _asked is not None and _asked[:2] == (why, orders)
        if asked_already and time.monotonic() - _asked[2] < ASK_AGAIN_S:  # type: ignore[index]
            return 0
        _asked = (why, orders, time.monotonic())
    log.info("asking for a new model version: %s (%d orders)", why, orders)
    train_models.send()
    return 1


def _due(ttl: timedelta) -> tuple[str | None, int]:
    """(why a new version is due, or None; the orders counted)."""
    with database.unit_of_work(single_statement=True) as uow:
        state = recs.active_model_state(uow.connection, KIND)
        cap = FIRST_ORDERS_CAP if state is None else int(GROWTH * max(state[2], 1)) + 1
        orders = recs.orders_up_to(uow.connection, cap)
    if state is None:
        return ("the first orders, and no model yet" if orders else None), orders
    version, age, trained_on = state
    if not _is_readable(version):
        return "the active version's artefact format is not this code's", orders
    if age >= ttl:
        return f"the active version is older than {ttl}", orders
    if orders >= GROWTH * max(trained_on, 1):
        return f"the orders grew {orders / max(trained_on, 1):.1f}x since it was trained", orders
    return None, orders


def _is_readable(version: str) -> bool:
    if version not in _readable:
        with database.unit_of_work(single_statement=True) as uow:
            found = registry.active(uow.connection, KIND)
        if found is None or found[0] != version:
            return True  # it changed meanwhile: judge the new one next time
        _readable[version] = artefacts.readable(found[1])
    return _readable[version]
