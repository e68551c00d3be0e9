"""Discovery and category ranking: the fast paths equal their definitions, ties included."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from domain.recs import discovery
from domain.recs.bundle import train
from domain.recs.discovery import (
    DEFAULT_PARAMS,
    CityScores,
    DiscoveryParams,
    categories,
    diversify,
    score_city,
)
from domain.recs.flat import FlatLists
from domain.recs.surfaces.base import Batch
from tests.support.recs_world import small_world


def greedy(
    columns: Sequence[int], brand: Sequence[int], cuisine: Sequence[int], params: DiscoveryParams
) -> list[int]:
    """The diversity rule as written: at each position, the first remaining column whose brand
    and cuisine are under their limits in the last `window - 1` picks, else the first one."""
    remaining, chosen = list(columns), list[int]()
    while remaining and len(chosen) < params.k:
        recent = chosen[max(0, len(chosen) - params.window + 1) :] if params.window > 1 else []
        pick = next((c for c in remaining if fits(c, recent, brand, cuisine, params)), remaining[0])
        remaining.remove(pick)
        chosen.append(pick)
    return chosen


def fits(
    column: int,
    recent: list[int],
    brand: Sequence[int],
    cuisine: Sequence[int],
    params: DiscoveryParams,
) -> bool:
    brands = sum(brand[r] == brand[column] for r in recent)
    cuisines = sum(cuisine[r] == cuisine[column] for r in recent)
    return (brand[column] == 0 or brands < params.per_brand) and (
        cuisine[column] == -1 or cuisines < params.per_cuisine
    )


def test_diversify_is_the_greedy_rule_on_random_lists() -> None:
    rng = random.Random(5)
    for _ in range(3000):
        # Given random candidates, brands (0: none), cuisines (-1: none) and limits
        n = rng.randint(0, 80)
        brand = [rng.randint(0, rng.randint(1, 12)) for _ in range(n)]
        cuisine = [rng.randint(-1, rng.randint(0, 6)) for _ in range(n)]
        columns = rng.sample(range(n), n)
        params = DiscoveryParams(
            k=rng.randint(1, 90),
            window=rng.randint(1, 12),
            per_brand=rng.randint(0, 3),
            per_cuisine=rng.randint(0, 4),
        )
        # When diversified / Then the picks are the greedy rule's, in its order
        assert diversify(columns, brand, cuisine, params) == greedy(columns, brand, cuisine, params)


def city_scores() -> tuple[Batch, list[CityScores]]:
    world = small_world()
    batch = Batch(train(world.baskets), world.catalog, world.users, {}, world.activity, world.now)
    return batch, [batch.city_scores(city, users) for city, users in batch.cities()]


def same(a: FlatLists, b: FlatLists) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_categories_at_once_equal_one_category_at_a_time() -> None:
    # Given each city's users x venues scores of a seeded world (no tied scores)
    batch, scored = city_scores()
    for scores in scored:
        assert scores.order is not None
        members = discovery._category_columns(batch.catalog, scores.positions)
        # When every category is ranked at once / Then the lists are those of one at a time
        one_by_one = discovery._categories_one_by_one(
            batch.catalog, scores, DEFAULT_PARAMS, members
        )
        assert len(one_by_one.ids) and same(
            categories(batch.catalog, scores, DEFAULT_PARAMS), one_by_one
        )


def test_tied_scores_go_to_the_lower_column_in_discovery_and_category_lists() -> None:
    # Given a city's scores where every user's venues all score the same
    batch, scored = city_scores()
    flat = CityScores(
        scored[0].user_ids,
        scored[0].positions,
        np.where(scored[0].scores > -np.inf, 1.0, -np.inf),
        scored[0].visited,
    )
    # Then there is no one order by score (ties are sorted stably instead)
    assert flat.order is None
    # When listed / Then each list holds its deliverable venues in column order
    for lists in (
        discovery.discovery(batch.catalog, flat, DiscoveryParams(per_brand=99, per_cuisine=99)),
        categories(batch.catalog, flat, DEFAULT_PARAMS),
    ):
        for start, stop in zip(lists.bounds[:-1], lists.bounds[1:], strict=True):
            at = batch.catalog.positions(lists.ids[start:stop])
            columns = np.searchsorted(flat.positions, at)
            assert np.all(np.diff(columns) > 0)


def test_scores_of_a_user_rank_once_per_city() -> None:
    # Given a user's scores against a city's venues
    world = small_world()
    users = [u for u in world.users if u.city_id == world.users[0].city_id][:5]
    scores = score_city(
        world.catalog,
        train(world.baskets).venues,
        users,
        discovery.Visits(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0)),
        world.now,
    )
    # When ordered / Then each row is its columns by score, best first, -inf last
    assert scores.order is not None
    ranked = np.take_along_axis(scores.scores, scores.order, axis=1)
    assert np.all(ranked[:, :-1] >= ranked[:, 1:])
