"""Building every precomputed list of a batch of users, and the cold-start fallbacks (pure),
from the surface registry (`domain.recs.surfaces`).

Per user, every surface stored per user (`discovery`, `category`, `items`) is ranked, in
registry order, and handed over as flat arrays per surface (`ListBatch`); surfaces combined at
read time (`cart`) only have fallbacks. Fallbacks are read when a user's list is missing or
stale: per city (and for every city, city_id 0), whatever each surface's `fallback` builds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import numpy as np

from domain.recs.bundle import Bundle
from domain.recs.discovery import DEFAULT_PARAMS, DiscoveryParams, UserRow
from domain.recs.flat import FlatLists
from domain.recs.items import Basket
from domain.recs.personal import NO_INPUTS as NO_PERSONAL_INPUTS
from domain.recs.personal import PersonalInputs
from domain.recs.surfaces import STORED, SURFACES
from domain.recs.surfaces.base import (
    EVERY_CITY,
    NO_INPUTS,
    Activity,
    Batch,
    FallbackInputs,
    FallbackRow,
)
from domain.recs.venues import VenueCatalog

__all__ = ["EVERY_CITY", "NO_INPUTS", "Activity", "FallbackRow", "ListBatch", "ListRow"]


class ListRow(NamedTuple):
    """One list, as readers and tests see it (stored packed with the user's other lists of the
    surface: store/pgcopy.py)."""

    user_id: int
    surface: str
    context: int
    ids: list[int]
    scores: list[float]
    inputs_at: datetime  # the newest input the list was computed from


class ListBatch(NamedTuple):
    """Lists of one surface."""

    surface: str
    lists: FlatLists


@dataclass(frozen=True)
class UserLists:
    """Every list computed for a batch of users, and each user's newest input."""

    batches: list[ListBatch]
    inputs_at: dict[int, datetime]

    def rows(self) -> list[ListRow]:
        """One `ListRow` per list (tests, small writers)."""
        return [
            ListRow(user, batch.surface, context, ids, scores, self.inputs_at.get(user, NO_INPUTS))
            for batch in self.batches
            for user, context, ids, scores in batch.lists.each()
        ]

    @classmethod
    def of_rows(cls, rows: Sequence[ListRow]) -> UserLists:
        """The lists of `rows`, each user stamped with the newest inputs_at of its rows."""
        inputs_at: dict[int, datetime] = {}
        for row in rows:
            inputs_at[row.user_id] = max(row.inputs_at, inputs_at.get(row.user_id, row.inputs_at))
        lengths = np.array([0] + [len(r.ids) for r in rows], dtype=np.int64)
        batches = [
            ListBatch(
                row.surface,
                FlatLists(
                    np.array([row.user_id], dtype=np.int64),
                    np.array([row.context], dtype=np.int64),
                    np.cumsum(lengths[[0, i + 1]]),
                    np.array(row.ids, dtype=np.int64),
                    np.array(row.scores, dtype=np.float64),
                ),
            )
            for i, row in enumerate(rows)
        ]
        return cls(batches, inputs_at)


def user_lists(
    bundle: Bundle,
    catalog: VenueCatalog,
    users: Sequence[UserRow],
    histories: Mapping[int, Sequence[Basket]],
    activity: Sequence[Activity],
    now: datetime,
    params: DiscoveryParams = DEFAULT_PARAMS,
    personal: PersonalInputs = NO_PERSONAL_INPUTS,
    only: frozenset[str] | None = None,
) -> UserLists:
    """Every list of these users on every stored surface (or those in `only`). Users without a `UserRow` (no known
    home) get items lists for the venues they ordered from only."""
    batch = Batch(bundle, catalog, users, histories, activity, now, params, personal)
    for surface in STORED:
        if only is not None and surface.name not in only:
            continue  # (benchmarks: a subset of the surfaces, LARDER_REFRESH_SURFACES)
        assert surface.rank is not None
        batch.lists[surface.name] = surface.rank(batch)
    batches = [ListBatch(name, found) for name, found in batch.lists.items()]
    return UserLists(batches, _inputs_at(histories, activity))


def _inputs_at(
    histories: Mapping[int, Sequence[Basket]], activity: Sequence[Activity]
) -> dict[int, datetime]:
    newest: dict[int, datetime] = {}
    stamps = [(b.user_id, b.placed_at) for h in histories.values() for b in h]
    for user, at in stamps + [(a.user_id, a.at) for a in activity]:
        if at > newest.get(user, NO_INPUTS):
            newest[user] = at
    return newest


def fallback_lists(
    bundle: Bundle,
    catalog: VenueCatalog,
    params: DiscoveryParams = DEFAULT_PARAMS,
    personal: PersonalInputs = NO_PERSONAL_INPUTS,
    now: datetime | None = None,
) -> list[FallbackRow]:
    """The cold-start lists of every surface (a list with nothing in it is no fallback)."""
    inputs = FallbackInputs(bundle, catalog, params, personal, now)
    return [row for surface in SURFACES for row in surface.fallback(inputs) if row.ids]
