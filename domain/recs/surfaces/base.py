"""What a recommendation surface is, and what its ranker is given (pure).

A surface is described once, by a `Surface` entry in `domain.recs.surfaces.SURFACES`: the name
every layer uses, what its ids are, what its context is, how long its lists are, whether it is
stored per user (ranked by the refresh) or combined at read time, how it is ranked and how its
cold-start fallback is built. List building (`domain.recs.lists`), the bulk write
(`store.recs.pgcopy`), serving (`programs.http`: paths, OpenAPI enums, read-time filters), the
CLI (`larder recs show --surface`) and the README's surfaces table read that entry.

A ranker gets a `Batch`: one refresh job's users and their inputs, with what is shared between
surfaces computed once (each city's users x venues scores) and the lists of the surfaces ranked
before it (`Batch.lists`, for surfaces that build on another: `needs`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from itertools import chain, groupby
from typing import Literal, NamedTuple

import numpy as np

from domain.recs.bundle import Bundle
from domain.recs.discovery import (
    ACTIVITY_WEIGHT,
    DEFAULT_PARAMS,
    CityScores,
    DiscoveryParams,
    UserRow,
    Visits,
    city_scores,
    every_city_scores,
    score_city,
)
from domain.recs.flat import FlatLists
from domain.recs.items import Basket
from domain.recs.personal import NO_INPUTS as NO_PERSONAL_INPUTS
from domain.recs.personal import PersonalInputs
from domain.recs.venues import VenueCatalog

IdKind = Literal["venue", "item", "brand", "category", "banner"]
Storage = Literal["per_user", "read_time"]
EVERY_CITY = 0  # fallback rows that serve every city (and users of unknown cities)
NO_INPUTS = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Context:
    """What a list's context is: `name` as the API and CLI say it, and whether a read needs it."""

    name: str
    description: str
    required: bool


NO_CONTEXT = Context("none", "absent or 0", required=False)


class FallbackRow(NamedTuple):
    """One row of `fallback_recommendations`."""

    city_id: int
    surface: str
    context: int
    ids: list[int]
    scores: list[float]


class Activity(NamedTuple):
    """A user's venue activity at one venue: one event at `at` (weight 1), or several events
    summed, `at` the newest and each event weighing what affinity decay leaves of it at `at`
    (what the refresh reads: `store.recs.queries.USER_ACTIVITY`)."""

    user_id: int
    venue_id: int
    at: datetime
    weight: float = 1.0


@dataclass(frozen=True)
class FallbackInputs:
    """What cold-start lists are built from: the model and the catalog, no user."""

    bundle: Bundle
    catalog: VenueCatalog
    params: DiscoveryParams = DEFAULT_PARAMS
    personal: PersonalInputs = NO_PERSONAL_INPUTS  # banners, day-parts (domain.recs.personal)
    now: datetime | None = None  # which banners are live (None: no banner fallback)


@dataclass(eq=False)
class Batch:
    """One refresh job's users and inputs. Users without a `UserRow` (no known home) are only
    in `histories`. Rankers run in registry order; `lists` holds what the earlier ones made."""

    bundle: Bundle
    catalog: VenueCatalog
    users: Sequence[UserRow]
    histories: Mapping[int, Sequence[Basket]]
    activity: Sequence[Activity]
    now: datetime
    params: DiscoveryParams = DEFAULT_PARAMS
    personal: PersonalInputs = NO_PERSONAL_INPUTS  # banners, day-parts (domain.recs.personal)
    lists: dict[str, FlatLists] = field(default_factory=dict)
    _scores: dict[int, CityScores] = field(default_factory=dict, repr=False)

    def cities(self) -> list[tuple[int, list[UserRow]]]:
        """The users with a home, grouped by city (cities in id order, users in input order)."""
        ordered = sorted(self.users, key=lambda u: u.city_id)
        return [(city, list(group)) for city, group in groupby(ordered, key=lambda u: u.city_id)]

    def city_scores(self, city_id: int, users: Sequence[UserRow]) -> CityScores:
        """The city's users x venues scores (computed once per job, shared by surfaces)."""
        if city_id not in self._scores:
            self._scores[city_id] = score_city(
                self.catalog, self.bundle.venues, users, self.visits, self.now, self.params
            )
        return self._scores[city_id]

    @cached_property
    def visits(self) -> Visits:
        """Every user's orders and venue activity, as affinity inputs."""
        baskets = [b for history in self.histories.values() for b in history]
        activity = self.activity
        n = len(baskets) + len(activity)
        users = chain((b.user_id for b in baskets), (a.user_id for a in activity))
        venues = chain((b.venue_id for b in baskets), (a.venue_id for a in activity))
        at = chain((b.placed_at.timestamp() for b in baskets), (a.at.timestamp() for a in activity))
        clicks = np.fromiter((a.weight for a in activity), np.float64, len(activity))
        weights = np.concatenate([np.ones(len(baskets)), ACTIVITY_WEIGHT * clicks])
        return Visits(
            np.fromiter(users, np.int64, n),
            np.fromiter(venues, np.int64, n),
            np.fromiter(at, np.float64, n),
            weights,
        )


CityRanker = Callable[[VenueCatalog, CityScores, DiscoveryParams], FlatLists]


def per_city(batch: Batch, rank: CityRanker) -> FlatLists:
    """`rank` applied to each city's users x venues scores, the cities' lists end to end."""
    found = [
        rank(batch.catalog, batch.city_scores(city, users), batch.params)
        for city, users in batch.cities()
    ]
    return FlatLists.concat(found)


def city_fallbacks(inputs: FallbackInputs, surface: str, rank: CityRanker) -> list[FallbackRow]:
    """`rank` applied to each city's venues scored for nobody in particular (popularity and
    rating), and to every city's venues at once for users whose city is not known."""
    catalog, model, params = inputs.catalog, inputs.bundle.venues, inputs.params
    scored = [(c, city_scores(catalog, model, c, params)) for c in sorted(catalog.cities)]
    scored.append((EVERY_CITY, every_city_scores(catalog, model, params)))
    return [
        FallbackRow(city, surface, context, ids, scores)
        for city, scores_of_city in scored
        for _, context, ids, scores in rank(catalog, scores_of_city, params).each()
    ]


Ranker = Callable[[Batch], FlatLists]
FallbackBuilder = Callable[[FallbackInputs], list[FallbackRow]]


@dataclass(frozen=True)
class Surface:
    """One recommendation surface, described once (see the module docstring)."""

    name: str
    description: str  # one line: what a product team gets
    ids: IdKind  # what the list's ids are (and so which read-time filter applies)
    context: Context
    length: int  # the longest list stored (reads may ask for fewer)
    storage: Storage  # per_user: ranked by the refresh, one row per user; read_time: combined
    ranking: str  # how it is ranked, in words (the README's table)
    fallback: FallbackBuilder  # the cold-start lists, built with every model version
    rank: Ranker | None = None  # per_user surfaces only
    needs: tuple[str, ...] = ()  # surfaces whose lists `rank` reads (ranked before it)
    personal: bool = False  # `rank` reads `Batch.personal` (banners, day-parts, tags)

    def __post_init__(self) -> None:
        if (self.storage == "per_user") != (self.rank is not None):
            raise ValueError(f"{self.name}: a per_user surface has a ranker, no other does")

    @property
    def stored(self) -> bool:
        return self.storage == "per_user"
