"""The items recommender, its baselines and the evaluation protocol, on hand-made histories."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from domain.intake.orders_csv import OrderHeader, OrderLine, ParsedOrders
from domain.recs import items
from domain.recs.baselines import g_topfreq_many, p_topfreq_many
from domain.recs.evaluation import (
    baskets_from_orders,
    evaluate,
    hit_at_k,
    ndcg_at_k,
    recall_at_k,
    split_last_basket,
)
from domain.recs.items import (
    Basket,
    ItemsModel,
    ItemsParams,
    basket_weights,
    chronological,
    recommend,
    recommend_at_venues,
    recommend_many,
    train,
    user_vectors,
)

T0 = datetime(2025, 1, 6, 11, tzinfo=UTC)
VENUE = 1
OTHER_VENUE = 2


def basket(user: int, day: int, *items: int, venue: int = VENUE, order: str = "") -> Basket:
    return Basket(user, venue, T0 + timedelta(days=day), items, order)


def history(user: int, *baskets: tuple[int, ...], venue: int = VENUE) -> list[Basket]:
    """One basket a day, oldest first."""
    return [basket(user, day, *items, venue=venue) for day, items in enumerate(baskets)]


def ids(ranked: list[tuple[int, float]]) -> list[int]:
    return [item for item, _ in ranked]


# A small world: user 1 repeats items 1 and 2 (and once bought 3); users 2-4 buy 1 and 2 too,
# plus 5 and 6; users 5-7 buy only 7, the most popular item overall; users 8-9 shop at another
# venue whose items 100 and 101 are popular too, and user 8 alone once bought 102 there.
REPEATER = history(1, (3,), (1, 2), (1, 2), (1, 2), (1, 2))
LOOKALIKES = [b for user in (2, 3, 4) for b in history(user, (1, 2, 5, 6), (1, 5, 6), (2, 5, 6))]
SEVEN_ONLY = [b for user in (5, 6, 7) for b in history(user, *[(7,)] * 6)]
ELSEWHERE = history(8, *[(100, 101)] * 9, (102,), venue=OTHER_VENUE) + history(
    9, *[(100, 101)] * 9, venue=OTHER_VENUE
)
WORLD = REPEATER + LOOKALIKES + SEVEN_ONLY + ELSEWHERE


@pytest.fixture(scope="module")
def model() -> ItemsModel:
    return train(WORLD, ItemsParams())


# --- metrics ---------------------------------------------------------------------------------


def test_recall_is_hits_over_basket_size() -> None:
    # Given a ranking that finds 2 of the 3 held-out items, one of them at rank 4
    ranked = [2, 8, 7, 4]
    relevant = {2, 4, 9}
    # When recall is cut at 2 and at 4
    # Then it counts the hits above the cut over the basket size, not over k
    assert recall_at_k(ranked, relevant, 2) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, relevant, 4) == pytest.approx(2 / 3)
    assert recall_at_k(ranked, relevant, 20) == pytest.approx(2 / 3)


def test_ndcg_uses_binary_gains_and_an_ideal_over_min_k_and_basket_size() -> None:
    # Given hits at ranks 2 and 4 for a basket of two items
    ranked, relevant = [5, 1, 6, 2], {1, 2}
    # When NDCG@4 is computed
    value = ndcg_at_k(ranked, relevant, 4)
    # Then it is (1/log2(3) + 1/log2(5)) / (1 + 1/log2(3))
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert value == pytest.approx(expected)
    assert value == pytest.approx(0.650921, abs=1e-6)
    # And a hit at rank 1 with k=1 is perfect even though the basket holds 3 items
    assert ndcg_at_k([1, 9], {1, 2, 3}, 1) == pytest.approx(1.0)
    # And a ranking without hits scores 0
    assert ndcg_at_k([7, 8], {1, 2}, 2) == 0.0


def test_hit_is_one_when_any_item_is_in_the_top_k() -> None:
    # Given a ranking whose only hit is at rank 3
    ranked, relevant = [4, 5, 6], {6, 7}
    # Then the hit counts from k=3, not before
    assert hit_at_k(ranked, relevant, 2) == 0.0
    assert hit_at_k(ranked, relevant, 3) == 1.0


def test_evaluate_scores_users_with_two_baskets_and_averages_over_them() -> None:
    # Given user 1 who rebuys item 10, user 3 whose next item was never seen before, and user 2
    # with a single basket (trained on, not scored); user 2 makes item 11 the most popular
    baskets = [
        basket(1, 0, 10, 11),
        basket(1, 1, 10),
        basket(2, 0, 11, 12),
        basket(3, 0, 20),
        basket(3, 1, 21),
    ]
    # When the protocol runs
    results = evaluate(baskets)
    # Then P-TopFreq ranks 11 (tied with 10 on count and recency, more popular) then 10 for
    # user 1: recall 1, NDCG 1/log2(3); user 3 misses; the means are over the two scored users
    personal = results["P-TopFreq"]
    assert personal["Recall@10"] == pytest.approx(0.5)
    assert personal["NDCG@10"] == pytest.approx(0.5 / math.log2(3))
    assert personal["PHR@10"] == pytest.approx(0.5)
    assert set(results) == {"G-TopFreq", "P-TopFreq", "larder items (TIFU + item-item)"}


def test_last_basket_ties_on_time_break_by_numeric_order_id() -> None:
    # Given two orders placed at the same instant, "10" and "9" (string order would say "9")
    baskets = [basket(1, 0, 1, order="10"), basket(1, 0, 2, order="9"), basket(1, -1, 3)]
    # When the last basket is held out
    training, histories, held_out = split_last_basket(baskets)
    # Then order 10 is the later one
    assert held_out[1].order_id == "10"
    assert [b.order_id for b in histories[1]] == ["", "9"]
    assert len(training) == 2


def test_baskets_from_orders_keep_distinct_items_in_line_order() -> None:
    # Given an order whose lines arrive out of line_no order, one item on two lines
    parsed = ParsedOrders(
        orders=[OrderHeader("A", 7, 3, T0)],
        lines=[OrderLine("A", 3, 30, 1), OrderLine("A", 1, 10, 2), OrderLine("A", 2, 30, 1)],
    )
    # When baskets are built
    # Then the basket lists each item once, by line number, and keeps the order id
    assert baskets_from_orders(parsed) == [Basket(7, 3, T0, (10, 30), "A")]


# --- personal vector weights ------------------------------------------------------------------


def test_basket_weights_decay_within_and_across_groups() -> None:
    # Given a history of 4 baskets (groups of 1, 1 and 2 baskets) and r_b=0.5, r_g=0.1
    params = ItemsParams(within_decay=0.5, group_decay=0.1)
    # When the weights are computed
    weights = basket_weights(np.array([4]), params)
    # Then basket i weighs r_b^(3-i) * r_g^(2-group) / (group size * 3)
    expected = [0.125 * 0.01 / 3, 0.25 * 0.1 / 3, 0.5 / 6, 1.0 / 6]
    assert weights.tolist() == pytest.approx(expected)


# --- baselines ---------------------------------------------------------------------------------


def test_p_topfreq_breaks_count_ties_by_recency_then_pads_with_popularity() -> None:
    # Given a user who bought 1 and 2 twice (1 more recently) and 3 and 4 once (4 more recently),
    # while the crowd makes 2 more popular than 1, 3 more popular than 4, and 9 popular
    user = history(1, (1, 2), (3,), (2,), (1, 4))
    crowd = history(2, (2, 3), (2, 3), (9,), (9,), (9,))
    model = train(user + crowd)
    # When P-TopFreq ranks five items for the user
    ranked = p_topfreq_many(model, {1: user}, 5)[1]
    # Then recency, not popularity, orders equal counts; popular 9 pads with score 0
    assert ranked == [(1, 2.0), (2, 2.0), (4, 1.0), (3, 1.0), (9, 0.0)]


def test_g_topfreq_is_the_venue_popularity(model: ItemsModel) -> None:
    # When G-TopFreq ranks at venue 1 and across venues
    at_venue = g_topfreq_many(model, {1: REPEATER}, 3, VENUE)[1]
    overall = g_topfreq_many(model, {1: REPEATER}, 3, None)[1]
    # Then it is the basket counts, restricted to the venue when one is given
    assert at_venue == [(7, 18.0), (1, 10.0), (2, 10.0)]
    assert overall == [(7, 18.0), (100, 18.0), (101, 18.0)]
    assert g_topfreq_many(model, {1: REPEATER}, 3, OTHER_VENUE)[1][2] == (102, 1.0)


# --- the production model ----------------------------------------------------------------------


def test_repeat_items_come_first(model: ItemsModel) -> None:
    # When the model ranks for the user who keeps buying 1 and 2
    ranked = recommend(model, REPEATER, VENUE, 5)
    # Then those two lead, ahead of the neighbours' 5 and 6 and of the most popular item 7
    assert set(ids(ranked)[:2]) == {1, 2}
    # (which the neighbours alone would rank first: they buy 5 and 6 in every basket)
    crowd_only = train(WORLD, ItemsParams(alpha=0.0))
    assert set(ids(recommend(crowd_only, REPEATER, VENUE, 2))) == {5, 6}
    scores = [score for _, score in ranked]
    assert scores == sorted(scores, reverse=True)


def test_neighbours_add_items_the_user_never_bought(model: ItemsModel) -> None:
    # Given the same world without the neighbour term
    alone = train(WORLD, ItemsParams(alpha=1.0))
    # When both rank for user 1
    blended = dict(recommend(model, REPEATER, VENUE, 6))
    personal = dict(recommend(alone, REPEATER, VENUE, 6))
    # Then 5 and 6, bought only by lookalike users, score only thanks to the neighbours
    assert blended[5] > 0.0 and blended[6] > 0.0
    assert personal[5] == 0.0 and personal[6] == 0.0
    # And 7, the most popular item but bought only by dissimilar users, stays behind them at 0
    order = ids(recommend(model, REPEATER, VENUE, 6))
    assert order.index(5) < order.index(7) and order.index(6) < order.index(7)
    assert blended[7] == 0.0


def test_an_item_the_user_bought_scores_by_their_own_purchases_alone(model: ItemsModel) -> None:
    # Given user 1's time-decayed purchase vector (items 1, 2 and 3)
    vector = user_vectors([chronological(REPEATER)], model.item_ids, model.params)
    own = dict(zip(model.item_ids[vector.indices].tolist(), vector.data.tolist(), strict=True))
    # When the model ranks for user 1 at venue 1
    ranked = dict(recommend(model, REPEATER, VENUE, 6))
    # Then each bought item scores alpha x its purchase rate, nothing from co-occurrence
    for item in (1, 2, 3):
        assert ranked[item] == pytest.approx(round(0.9 * own[item], 12))
    # And with the repeat term weighted 0 only items new to the user score
    crowd_only = dict(recommend(train(WORLD, ItemsParams(alpha=0.0)), REPEATER, VENUE, 6))
    assert crowd_only[1] == crowd_only[2] == crowd_only[3] == 0.0
    assert crowd_only[5] > 0.0 and crowd_only[6] > 0.0


def test_cold_start_gets_venue_then_global_popularity(model: ItemsModel) -> None:
    # Given a user with no history and one whose only item the model never saw
    strangers = {100_000: [], 100_001: [basket(100_001, 0, 999_999)]}
    # When the model ranks at venue 1, at the other venue, across venues, at an unknown venue
    at_venue = recommend_many(model, strangers, 3, VENUE)
    at_other = recommend_many(model, strangers, 3, OTHER_VENUE)
    overall = recommend_many(model, strangers, 3, None)
    # Then each gets that venue's best sellers (ties by item id), with score 0
    for user in strangers:
        assert at_venue[user] == [(7, 0.0), (1, 0.0), (2, 0.0)]
        assert at_other[user] == [(100, 0.0), (101, 0.0), (102, 0.0)]
        assert overall[user] == [(7, 0.0), (100, 0.0), (101, 0.0)]
    assert recommend(model, [], 12345, 3) == []


def test_a_venue_restricts_the_candidates(model: ItemsModel) -> None:
    # When user 1 (who shops at venue 1) is ranked at the other venue
    ranked = recommend(model, REPEATER, OTHER_VENUE, 10)
    # Then only that venue's items come back
    assert sorted(ids(ranked)) == [100, 101, 102]


@pytest.mark.parametrize("venue", [VENUE, None])
def test_recommend_many_equals_recommend_per_user(model: ItemsModel, venue: int | None) -> None:
    # Given every training user, a user unknown to the model and one with no history
    by_user: dict[int, list[Basket]] = {}
    for b in WORLD:
        by_user.setdefault(b.user_id, []).append(b)
    by_user[50] = history(50, (1, 5), (2,))
    by_user[51] = []
    # When they are ranked together and one at a time
    together = recommend_many(model, by_user, 4, venue)
    # Then each user's list is exactly the single-user one
    for user, baskets in by_user.items():
        assert together[user] == recommend(model, baskets, venue, 4), user


def test_same_history_in_any_order_gives_identical_results() -> None:
    # Given the world's baskets in two different orders
    shuffled = list(WORLD)
    random.Random(7).shuffle(shuffled)
    first, second = train(WORLD), train(shuffled)
    users = {1: REPEATER, 2: [b for b in LOOKALIKES if b.user_id == 2]}
    # When both models rank for the same users (histories reversed for the second)
    a = recommend_many(first, users, 8, VENUE)
    b = recommend_many(second, {u: h[::-1] for u, h in users.items()}, 8, VENUE)
    # Then the rankings and scores are identical, bit for bit
    assert a == b


def test_params_are_validated() -> None:
    # Then out-of-range hyper-parameters are refused
    with pytest.raises(ValueError):
        ItemsParams(within_decay=0.0)
    with pytest.raises(ValueError):
        ItemsParams(alpha=1.5)
    with pytest.raises(ValueError):
        ItemsParams(neighbours=-1)


@pytest.mark.parametrize("block_cells", [items.BLOCK_CELLS, 1])  # 1: no dense pair table
@pytest.mark.parametrize("shared", [False, True])  # True: item 1 is sold at both venues
@pytest.mark.parametrize("padding", [items.PADDING_LIMIT, 0])  # 0: never a padded block
def test_recommend_at_venues_equals_recommend_per_pair(
    block_cells: int, shared: bool, padding: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(items, "BLOCK_CELLS", block_cells)
    monkeypatch.setattr(items, "PADDING_LIMIT", padding)
    extra = [basket(9, 20, 1, 100, venue=OTHER_VENUE)] if shared else []
    model = train(WORLD + extra, ItemsParams())
    # Given users asking for their own venue, another one and a venue the model never saw
    by_user = {1: REPEATER, 8: [b for b in ELSEWHERE if b.user_id == 8], 50: []}
    venues = {1: [VENUE, OTHER_VENUE], 8: [OTHER_VENUE, VENUE, 12345], 50: [VENUE]}
    # When every pair is ranked at once
    found = recommend_at_venues(model, by_user, venues, 4)
    # Then each pair gets the single-pair ranking (scores rounded to 6 places)
    assert sorted(found) == sorted((u, v) for u, vs in venues.items() for v in vs)
    for (user, venue), ranked in found.items():
        expected = recommend(model, by_user[user], venue, 4)
        assert ids(ranked) == ids(expected)
        assert [s for _, s in ranked] == np.round([s for _, s in expected], 6).tolist()


def test_item_neighbours_are_the_k_most_similar_ties_to_the_lower_column(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given random baskets over 14 items, items 20 and 21 always bought together with 3 (tied
    # similarities), few neighbours, and blocks of 4 items and 64 cells
    rng = random.Random(7)
    baskets = [tuple(rng.sample(range(1, 15), 3)) for _ in range(4 * 40)]
    baskets = [(*b, 20, 21) if 3 in b else b for b in baskets]
    world = [b for user in range(1, 41) for b in history(user, *baskets[4 * (user - 1) : 4 * user])]
    monkeypatch.setattr(items, "BLOCK_CELLS", 64)
    monkeypatch.setattr(items, "NEIGHBOUR_ROWS", 4)
    # When the model is trained
    model = train(world, ItemsParams(neighbours=5))
    # Then row i of P holds the 5 other items of largest brute-force cosine of item columns
    # (ties: the lower column), weights scaled to sum to 1
    by_user: dict[int, list[Basket]] = {}
    for b in world:
        by_user.setdefault(b.user_id, []).append(b)
    histories = [chronological(by_user[u]) for u in sorted(by_user)]
    vectors = user_vectors(histories, model.item_ids, model.params)
    dense = np.zeros((len(by_user), len(model.item_ids)))
    rows = np.repeat(np.arange(len(by_user)), np.diff(vectors.indptr))
    dense[rows, vectors.indices] = vectors.data
    unit = dense / np.linalg.norm(dense, axis=0)
    similarity = unit.T @ unit
    similar = model.similar
    for item in range(len(model.item_ids)):
        span = slice(similar.indptr[item], similar.indptr[item + 1])
        others = [j for j in range(len(model.item_ids)) if j != item and similarity[item, j] > 0]
        ranked = sorted(others, key=lambda j: (-round(similarity[item, j], 12), j))
        expected = sorted(ranked[:5])
        assert similar.indices[span].tolist() == expected, item
        weights = similarity[item, expected] / similarity[item, expected].sum()
        assert np.allclose(similar.data[span], weights)
    twins = model.item_ids.tolist().index(20), model.item_ids.tolist().index(21)
    assert any(
        twins[0] in similar.indices[similar.indptr[i] : similar.indptr[i + 1]]
        and twins[1] not in similar.indices[similar.indptr[i] : similar.indptr[i + 1]]
        for i in range(len(model.item_ids))
    )  # a tie was cut, to the lower column


def test_stable_groups_are_the_unique_keys_in_input_order() -> None:
    keys = np.array([5, 3, 5, 5, 1, 3, 9, 1], dtype=np.int64)
    order, first = items._stable_groups(keys)
    unique, inverse = np.unique(keys, return_inverse=True)
    assert np.array_equal(keys[order][first], unique)
    assert np.array_equal((np.cumsum(first) - 1)[np.argsort(order)], inverse)
    assert order.tolist() == [4, 7, 1, 5, 0, 2, 3, 6]  # equal keys keep their input order


def test_every_recommender_returns_nothing_for_a_venue_the_model_never_saw() -> None:
    # Given a model trained on venue 1 only
    from domain.recs.baselines import g_topfreq_many, p_topfreq_many

    start = datetime(2026, 1, 1, tzinfo=UTC)
    history = [
        Basket(u, 1, start + timedelta(days=d), (u, 100 + d)) for u in (1, 2) for d in range(3)
    ]
    model = train(history)
    histories = {1: history[:3]}
    # When asked for venue 2 / Then each recommender answers with an empty list, not an error
    for recommender in (recommend_many, g_topfreq_many, p_topfreq_many):
        assert recommender(model, histories, 10, 2) == {1: []}


def layout_of(widths: list[int]) -> items._PairLayout:
    """A pair layout of only its shape (cells per pair), for ranking its cells."""
    layout = items._PairLayout.__new__(items._PairLayout)
    layout.width = np.array(widths, dtype=np.int64)
    layout.start = np.cumsum(layout.width) - layout.width
    layout.total = int(layout.width.sum())
    return layout


@pytest.mark.parametrize("padding", [items.PADDING_LIMIT, 0])  # 0: never a padded block
@pytest.mark.parametrize("values", [(0.0, 0.0, 0.0, 0.25, 0.5, 1.0), (0.0, -0.5, 0.5, 1.0)])
def test_best_cells_are_each_pairs_best_first_ties_to_the_lower_cell(
    padding: int, values: tuple[float, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(items, "PADDING_LIMIT", padding)
    rng = np.random.default_rng(3)
    for _ in range(500):
        # Given pairs of random sizes (some empty, some longer than k) and scores with many
        # ties: mostly 0 (no term), with or without negative ones
        layout = layout_of(rng.integers(0, 25, int(rng.integers(1, 30))).tolist())
        segment = np.repeat(np.arange(len(layout.width)), layout.width)
        local = np.arange(layout.total) - layout.start[segment]
        scores = rng.choice(values, layout.total)
        k = int(rng.integers(1, 30))
        # When each pair's k best cells are taken
        found = layout._best_cells(scores, segment, k)
        # Then they are the pairs' cells by score, ties to the lower cell, cut at k
        order = np.lexsort((local, -scores, segment))
        rank = np.arange(layout.total) - layout.start[segment[order]]
        assert found.tolist() == order[rank < k].tolist()
