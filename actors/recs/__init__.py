"""Refreshing precomputed recommendation lists (the `recs` queue)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

import dramatiq
from prometheus_client import Counter

from domain.recs import artefacts
from domain.recs.banners import BannerSettings, StatRow
from domain.recs.bundle import MODEL_KIND as KIND
from domain.recs.bundle import Bundle
from domain.recs.discovery import UserRow
from domain.recs.items import Basket
from domain.recs.lists import Activity, UserLists, fallback_lists, user_lists
from domain.recs.personal import NO_INPUTS as NO_PERSONAL_INPUTS
from domain.recs.personal import PersonalInputs
from domain.recs.surfaces import ranked
from domain.recs.venues import VenueCatalog
from schemas.base import InvalidMessage, parse
from schemas.recs import RefreshLists
from store import recs
from store.recs import personal, registry, runs
from workers import metrics, queues
from workers.broker import database
from workers.scheduling import periodic

T = TypeVar("T")
log = logging.getLogger("larder.recs")


class _Cached(Generic[T]):
    """A per-process value shared by the worker threads, reloaded when its key changes."""

    def __init__(self, load: Callable[[Any], T]) -> None:
        self._lock = threading.Lock()
        self._load = load
        self._entry: tuple[Any, T] | None = None

    def get(self, key: Any) -> T:
        with self._lock:
            if self._entry is None or self._entry[0] != key:
                self._entry = (key, self._load(key))
            return self._entry[1]


def _load_bundle(version: str) -> Bundle:
    with database.unit_of_work(single_statement=True) as uow:
        found = registry.active(uow.connection, KIND)
    if found is None or found[0] != version:
        raise RuntimeError("the active model changed while loading; retry")
    return artefacts.from_bytes(found[1])


def _load_catalog(_: Any) -> VenueCatalog:
    with database.unit_of_work(single_statement=True) as uow:
        return recs.catalog(uow.connection)


def _load_dayparts(_: Any) -> dict[int, int]:
    with database.unit_of_work(single_statement=True) as uow:
        return personal.venue_dayparts(uow.connection)


def _load_stats(_: Any) -> list[StatRow]:
    with database.unit_of_work(single_statement=True) as uow:
        return personal.banner_stats(uow.connection)


_bundle: _Cached[Bundle] = _Cached(_load_bundle)
_catalog: _Cached[VenueCatalog] = _Cached(_load_catalog)
_dayparts: _Cached[dict[int, int]] = _Cached(_load_dayparts)
_stats: _Cached[list[StatRow]] = _Cached(_load_stats)


def _stats_every_s() -> float:
    """Banner statistics are reloaded at most this often per process (LARDER_BANNER_STATS_MAX_AGE_S)."""
    from workers.settings import get_settings

    return get_settings().banner_stats_max_age_s


def personal_inputs(connection: Any, user_ids: Sequence[int]) -> PersonalInputs:
    """Banners (every job: a handful of rows, pauses apply at once), their statistics (cached
    per process, LARDER_BANNER_STATS_MAX_AGE_S), venues' day-parts (per catalog version), users' tags."""
    return PersonalInputs(
        banners=personal.banners(connection),
        stats=_stats.get(int(time.monotonic() // _stats_every_s())),
        dayparts=_dayparts.get(recs.catalog_version(connection)),
        tags=personal.user_tags(connection, user_ids),
        settings=banner_settings(),
    )


def _personal_inputs_if_needed(connection: Any, user_ids: Sequence[int]) -> PersonalInputs:
    """`personal_inputs` when a ranked surface reads them (none of the list surfaces does)."""
    if any(surface.personal for surface in ranked(_surfaces())):
        return personal_inputs(connection, user_ids)
    return NO_PERSONAL_INPUTS


def _surfaces() -> frozenset[str] | None:
    """LARDER_REFRESH_SURFACES: rank only these stored surfaces (None: all of them)."""
    from workers.settings import get_settings

    names = get_settings().refresh_surfaces.split(",")
    return frozenset(n.strip() for n in names if n.strip()) or None


def banner_settings() -> BannerSettings:
    """The banners policy's settings (LARDER_BANNER_*), read once per process."""
    global _settings
    if _settings is None:
        from workers.settings import get_settings

        found = get_settings()
        _settings = BannerSettings(
            prior_strength=found.banner_prior_strength,
            random_share=found.banner_random_share,
            draws=found.banner_draws,
        )
    return _settings


_settings: BannerSettings | None = None


def current_catalog() -> VenueCatalog:
    with database.unit_of_work(single_statement=True) as uow:
        return _catalog.get(recs.catalog_version(uow.connection))


@dramatiq.actor(
    actor_name="refresh_lists", queue_name=queues.name(queues.RECS), throws=(InvalidMessage,)
)
def refresh_lists(job: dict[str, Any]) -> None:
    """Recompute every list of the job's users; older inputs never overwrite newer lists. A
    user whose lists cannot be computed (a bug in a ranker; no model trained yet) is marked
    due again later, and the others' lists are written: nobody is lost, nobody waits on them."""
    parsed = parse(RefreshLists, job)
    with database.unit_of_work() as uow:  # one snapshot of the users' inputs
        version = recs.active_version(uow.connection, KIND)
        catalog = _catalog.get(recs.catalog_version(uow.connection))
        inputs = Inputs(
            recs.users(uow.connection, parsed.user_ids),
            _histories(recs.user_baskets(uow.connection, parsed.user_ids)),
            recs.activity(uow.connection, parsed.user_ids),
            _personal_inputs_if_needed(uow.connection, parsed.user_ids),
        )
    if version is None:  # nothing trained yet: readers get fallbacks; try these users later
        with database.unit_of_work() as uow:
            recs.mark_due(uow.connection, parsed.user_ids, NO_MODEL_RETRY)
        return
    lists, failed = rank_isolated(_bundle.get(version), catalog, inputs, parsed.user_ids)
    with database.unit_of_work() as uow:
        done = [u for u in parsed.user_ids if u not in failed]
        recs.write_lists(uow.connection, lists, version, done)
        if failed:
            recs.mark_due(uow.connection, sorted(failed), FAILED_RETRY)
        if parsed.run_id is not None and parsed.chunk is not None:
            runs.finish_chunk(uow.connection, parsed.run_id, parsed.chunk)
    if failed:
        REFRESH_FAILURES.inc(len(failed))
    _observe(lists, done, parsed.changed_at)


def _observe(lists: UserLists, users: Sequence[int], changed_at: datetime | None) -> None:
    """The written lists' freshness per surface (the registry's: one label each) and, for an
    event-driven job, the recompute lag from its oldest change mark."""
    now = datetime.now(UTC)
    ages = [(now - lists.inputs_at[u]).total_seconds() for u in users if u in lists.inputs_at]
    for surface in {batch.surface for batch in lists.batches}:
        metrics.observe_many(metrics.LIST_FRESHNESS.labels(surface), ages)
    if changed_at is not None:
        metrics.RECOMPUTE_LAG.observe(max(0.0, (now - changed_at).total_seconds()))


NO_MODEL_RETRY = timedelta(minutes=1)  # the scheduler trains a first model once orders arrive
FAILED_RETRY = timedelta(minutes=10)  # a bug stays until a fix is deployed: retry, not spin
REFRESH_FAILURES = Counter(
    "larder_refresh_user_failures_total",
    "Users whose lists a refresh could not compute (marked due again later); see the logs.",
)


@dataclass(frozen=True)
class Inputs:
    """One job's users: homes (users with a known home), order histories, venue activity."""

    homes: list[UserRow]
    histories: dict[int, list[Basket]]
    activity: list[Activity]
    personal: PersonalInputs = NO_PERSONAL_INPUTS

    def of(self, users: set[int]) -> Inputs:
        return Inputs(
            [h for h in self.homes if h.user_id in users],
            {u: h for u, h in self.histories.items() if u in users},
            [a for a in self.activity if a.user_id in users],
            self.personal,
        )


def _histories(baskets: Iterable[Basket]) -> dict[int, list[Basket]]:
    histories: dict[int, list[Basket]] = {}
    for basket in baskets:
        histories.setdefault(basket.user_id, []).append(basket)
    return histories


def rank_isolated(
    bundle: Bundle, catalog: VenueCatalog, inputs: Inputs, users: Sequence[int]
) -> tuple[UserLists, set[int]]:
    """Every list of `users`, and the users whose lists raised: when ranking the job raises,
    its halves are ranked apart, down to the users that raise alone (each logged with its
    error). A bug in one user's computation costs that user a retry, not the job."""
    now = datetime.now(UTC)
    try:
        found = user_lists(
            bundle,
            catalog,
            inputs.homes,
            inputs.histories,
            inputs.activity,
            now,
            personal=inputs.personal,
            only=_surfaces(),
        )
        return found, set()
    except Exception:
        if len(users) == 1:
            log.exception("could not compute the lists of user %s: retrying it later", users[0])
            return UserLists([], {}), set(users)
    half = len(users) // 2
    parts = [
        rank_isolated(bundle, catalog, inputs.of(set(p)), p) for p in (users[:half], users[half:])
    ]
    merged = UserLists(
        [batch for lists, _ in parts for batch in lists.batches],
        {user: at for lists, _ in parts for user, at in lists.inputs_at.items()},
    )
    return merged, set().union(*(failed for _, failed in parts))


def refresh_fallbacks() -> int:
    """Store the cold-start lists of every city, venue and item from the active model."""
    with database.unit_of_work(single_statement=True) as uow:
        version = recs.active_version(uow.connection, KIND)
    if version is None:
        return 0
    with database.unit_of_work(single_statement=True) as uow:
        extra = personal_inputs(uow.connection, [])
    now = datetime.now(UTC)
    rows = fallback_lists(_bundle.get(version), current_catalog(), personal=extra, now=now)
    with database.unit_of_work() as uow:
        return recs.write_fallbacks(uow.connection, rows, version)


@periodic("recs.sweep_changed_users", every_s=0.5, unit="users enqueued for a refresh")
def sweep_changed_users(limit: int = 5000, chunk: int = 100) -> int:
    """Claim users whose inputs changed and enqueue their refresh; returns how many users.

    The jobs are published before the claim commits: if publishing fails the users stay dirty,
    and if the commit fails after publishing they are refreshed twice (harmless: idempotent).
    Any number of sweepers can run at once (SKIP LOCKED)."""
    with database.unit_of_work() as uow:
        if recs.active_version(uow.connection, KIND) is None:
            return 0  # nothing to compute with yet: the marks wait for the first model
        users, oldest = recs.claim_changed_users(uow.connection, limit)
        enqueue_refresh(users, chunk, changed_at=oldest)
    return len(users)


LIST_TTL = timedelta(hours=24)
"""Lists older than this are recomputed by the `recs.refresh_stale_lists` duty (every 10
minutes; run it less often than a full refresh takes, or users repeat)."""


@periodic("recs.refresh_stale_lists", every_s=600.0, unit="users with stale or no lists enqueued")
def refresh_stale_lists(ttl: timedelta = LIST_TTL, limit: int = 50_000) -> int:
    """Refresh users whose lists are older than the TTL, or who have none."""
    with database.unit_of_work(single_statement=True) as uow:
        if recs.active_version(uow.connection, KIND) is None:
            return 0  # nothing to compute with: the first model's training refreshes them
        users = recs.stale_list_users(uow.connection, ttl, limit)
        users += recs.users_without_lists(uow.connection, limit)
    enqueue_refresh(sorted(set(users)))
    return len(set(users))


def refresh_missing_lists(limit: int = 1_000_000) -> int:
    """Enqueue refreshes of the known users without any list (after a new model version: the
    ones whose refreshes found no model); returns how many users."""
    with database.unit_of_work(single_statement=True) as uow:
        users = recs.users_without_lists(uow.connection, limit)
    enqueue_refresh(users)
    return len(users)


def enqueue_refresh(
    user_ids: Sequence[int], chunk: int = 500, changed_at: datetime | None = None
) -> int:
    """Send untracked `refresh_lists` jobs of at most `chunk` users (`changed_at`: their oldest
    change mark, for the recompute lag); returns how many jobs."""
    for start in range(0, len(user_ids), chunk):
        job = _job(user_ids[start : start + chunk])
        if changed_at is not None:
            job["changed_at"] = changed_at.isoformat()
        refresh_lists.send(job)
    return -(-len(user_ids) // chunk)


def start_run(scope: str, user_ids: Sequence[int], chunk: int = 500) -> int:
    """Record a tracked batch refresh and, once that has committed, send its chunks (a job never
    refers to a run that is not there); returns the run id. A crash between the two leaves a
    run that never finishes, visible in its status."""
    with database.unit_of_work(single_statement=True) as uow:
        version = recs.active_version(uow.connection, KIND)
    if version is None:
        raise LookupError("no active model: run `larder recs train` first")
    parts = [list(user_ids[s : s + chunk]) for s in range(0, len(user_ids), chunk)]
    with database.unit_of_work() as uow:
        run_id = runs.start(uow.connection, scope, version, len(user_ids), len(parts))
        messages = [refresh_lists.message(_job(p, run_id, n)) for n, p in enumerate(parts)]
        for n, (part, message) in enumerate(zip(parts, messages, strict=True)):
            runs.add_chunk(uow.connection, run_id, n, message.message_id, len(part))
        uow.after_commit(lambda: [refresh_lists.broker.enqueue(m) for m in messages])
    return run_id


def _job(
    user_ids: Sequence[int], run_id: int | None = None, chunk: int | None = None
) -> dict[str, Any]:
    job: dict[str, Any] = {"schema_version": 1, "user_ids": list(user_ids)}
    if run_id is not None:
        job |= {"run_id": run_id, "chunk": chunk}
    return job


from actors.recs import banner_audiences, training  # noqa: E402  (one capability, one import)

__all__ = ["banner_audiences", "training"]
