"""Refreshing precomputed recommendation lists (the `recs` queue)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import dramatiq

from domain.recs import artefacts
from domain.recs.items import MODEL_KIND as KIND
from domain.recs.items import Basket, ItemsModel
from domain.recs.lists import items_fallbacks, items_lists
from schemas.base import InvalidMessage, parse
from schemas.jobs import RefreshItems
from store import queries, recs, registry
from workers import queues
from workers.broker import database


class _ActiveModel:
    """The active model of this process, reloaded only when the active version changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: tuple[str, ItemsModel] | None = None

    def get(self, version: str) -> ItemsModel:
        with self._lock:
            if self._loaded is None or self._loaded[0] != version:
                with database.unit_of_work(single_statement=True) as uow:
                    found = registry.active(uow.connection, KIND)
                if found is None or found[0] != version:
                    raise RuntimeError("the active model changed while loading; retry")
                self._loaded = (version, artefacts.from_bytes(found[1]))
            return self._loaded[1]


_model = _ActiveModel()


@dramatiq.actor(
    actor_name="refresh_items", queue_name=queues.name(queues.RECS), throws=(InvalidMessage,)
)
def refresh_items(job: dict[str, Any]) -> None:
    """Recompute the users' lists; older inputs never overwrite newer lists."""
    user_ids = parse(RefreshItems, job).user_ids
    with database.unit_of_work(single_statement=True) as uow:
        version = recs.active_version(uow.connection, KIND)
        histories: dict[int, list[Basket]] = {}
        for basket in recs.user_baskets(uow.connection, user_ids):
            histories.setdefault(basket.user_id, []).append(basket)
    if version is None:
        return  # nothing trained yet: readers get fallbacks once `larder train` has run
    rows = items_lists(_model.get(version), version, histories)
    with database.unit_of_work(single_statement=True) as uow:
        recs.write_lists(uow.connection, rows)


def refresh_fallbacks() -> int:
    """Store every venue's popular items (the cold-start lists) from the active model."""
    with database.unit_of_work(single_statement=True) as uow:
        version = recs.active_version(uow.connection, KIND)
    if version is None:
        return 0
    rows = items_fallbacks(_model.get(version), version)
    with database.unit_of_work(single_statement=True) as uow:
        return recs.write_fallbacks(uow.connection, rows)


def sweep_changed_users(limit: int = 5000, chunk: int = 500) -> int:
    """Claim users whose inputs changed and enqueue their refresh; returns how many users.

    The jobs are published before the claim commits: if publishing fails the users stay dirty,
    and if the commit fails after publishing they are refreshed twice (harmless: idempotent).
    Any number of sweepers can run at once (SKIP LOCKED)."""
    with database.unit_of_work() as uow:
        cursor = uow.connection.execute(queries.CLAIM_USER_CHANGES, {"limit": limit})
        users = sorted({row[0] for row in cursor})  # a burst of changes: one refresh
        enqueue_refresh(users, chunk)
    return len(users)


LIST_TTL = timedelta(hours=24)


def refresh_stale_lists(ttl: timedelta = LIST_TTL, limit: int = 50_000) -> int:
    """Enqueue refreshes for users whose lists are older than `ttl`; returns how many users.
    Run less often than a refresh takes (the scheduler: every 10 minutes), or users repeat."""
    with database.unit_of_work(single_statement=True) as uow:
        users = recs.stale_list_users(uow.connection, ttl, limit)
    enqueue_refresh(users)
    return len(users)


def enqueue_refresh(user_ids: list[int], chunk: int = 500) -> int:
    """Send `refresh_items` jobs of at most `chunk` users; returns how many jobs."""
    for start in range(0, len(user_ids), chunk):
        refresh_items.send({"schema_version": 1, "user_ids": user_ids[start : start + chunk]})
    return -(-len(user_ids) // chunk)
