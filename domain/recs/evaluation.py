"""Offline evaluation of the items models: last-basket holdout (pure).

Protocol (Li et al., "A Next Basket Recommendation Reality Check", ACM TOIS 2023):

- each user's last basket (by placed_at, ties by order id) is held out; users with a single
  basket are not scored, but their basket stays in training like every other non-held-out one;
- one model is trained on everything else with the production `items.train`, and every
  recommender ranks items at the venue of the held-out order, from the user's other baskets;
- per user, with the held-out items deduplicated: Recall@K = hits in the top K / basket size;
  NDCG@K with binary gains, ideal DCG over min(K, basket size); PHR@K = 1 when there is a hit;
- each metric is the mean over the scored users.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence

from domain.intake.orders_csv import ParsedOrders
from domain.recs.baselines import g_topfreq_many, p_topfreq_many
from domain.recs.items import (
    Basket,
    ItemsModel,
    ItemsParams,
    Ranked,
    chronological,
    recommend_many,
    train,
)

Recommender = Callable[
    [ItemsModel, Mapping[int, Sequence[Basket]], int, int | None], dict[int, Ranked]
]

PRODUCTION = "larder items (TIFU + item-item)"
MODELS: dict[str, Recommender] = {
    "G-TopFreq": g_topfreq_many,
    "P-TopFreq": p_topfreq_many,
    PRODUCTION: recommend_many,
}
METRICS = ("Recall@10", "Recall@20", "NDCG@10", "NDCG@20", "PHR@10")
DEPTH = 20  # the deepest cut-off above


class NothingToEvaluate(ValueError):
    """No user has the two baskets the protocol needs."""


def baskets_from_orders(parsed: ParsedOrders) -> list[Basket]:
    """One basket per order: its distinct items in line_no order (quantities do not count)."""
    lines_of: dict[str, list[tuple[int, int]]] = {}
    for line in parsed.lines:
        lines_of.setdefault(line.order_id, []).append((line.line_no, line.item_id))
    baskets = []
    for order in parsed.orders:
        items = dict.fromkeys(item for _, item in sorted(lines_of.get(order.order_id, [])))
        baskets.append(
            Basket(order.user_id, order.venue_id, order.placed_at, tuple(items), order.order_id)
        )
    return baskets


def split_last_basket(
    baskets: Sequence[Basket],
) -> tuple[list[Basket], dict[int, list[Basket]], dict[int, Basket]]:
    """(training baskets, each scored user's history, each scored user's held-out basket)."""
    by_user: dict[int, list[Basket]] = {}
    for basket in baskets:
        by_user.setdefault(basket.user_id, []).append(basket)
    training: list[Basket] = []
    histories: dict[int, list[Basket]] = {}
    held_out: dict[int, Basket] = {}
    for user in sorted(by_user):
        ordered = chronological(by_user[user])
        if len(ordered) >= 2:
            histories[user], held_out[user] = ordered[:-1], ordered[-1]
            training.extend(ordered[:-1])
        else:
            training.extend(ordered)
    return training, histories, held_out


def evaluate(
    baskets: Sequence[Basket], params: ItemsParams | None = None
) -> dict[str, dict[str, float]]:
    """Mean metrics per model name (see METRICS); raises NothingToEvaluate."""
    training, histories, held_out = split_last_basket(baskets)
    if not held_out:
        raise NothingToEvaluate("no user has at least two orders with items")
    model = train(training, params)
    by_venue: dict[int, dict[int, list[Basket]]] = {}
    for user, basket in held_out.items():
        by_venue.setdefault(basket.venue_id, {})[user] = histories[user]
    results = {}
    for name, recommender in MODELS.items():
        ranked: dict[int, Ranked] = {}
        for venue_id, group in by_venue.items():
            ranked.update(recommender(model, group, DEPTH, venue_id))
        results[name] = _mean_metrics(ranked, held_out)
    return results


def _mean_metrics(ranked: Mapping[int, Ranked], held_out: Mapping[int, Basket]) -> dict[str, float]:
    totals = dict.fromkeys(METRICS, 0.0)
    for user, basket in held_out.items():
        items = [item for item, _ in ranked[user]]
        relevant = set(basket.items)
        totals["Recall@10"] += recall_at_k(items, relevant, 10)
        totals["Recall@20"] += recall_at_k(items, relevant, 20)
        totals["NDCG@10"] += ndcg_at_k(items, relevant, 10)
        totals["NDCG@20"] += ndcg_at_k(items, relevant, 20)
        totals["PHR@10"] += hit_at_k(items, relevant, 10)
    return {name: total / len(held_out) for name, total in totals.items()}


def recall_at_k(ranked: Sequence[int], relevant: Collection[int], k: int) -> float:
    """Share of the relevant items found in the top k (0 when nothing is relevant)."""
    if not relevant:
        return 0.0
    return len(set(ranked[:k]) & set(relevant)) / len(set(relevant))


def ndcg_at_k(ranked: Sequence[int], relevant: Collection[int], k: int) -> float:
    """Binary-gain NDCG: DCG of the top k over the DCG of min(k, |relevant|) hits in a row."""
    wanted = set(relevant)
    if not wanted:
        return 0.0
    top = list(dict.fromkeys(ranked))[:k]  # a repeated item cannot count twice
    dcg = sum(1.0 / math.log2(rank + 2) for rank, item in enumerate(top) if item in wanted)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(k, len(wanted))))
    return dcg / ideal


def hit_at_k(ranked: Sequence[int], relevant: Collection[int], k: int) -> float:
    """1.0 when any relevant item is in the top k, else 0.0 (PHR@k is its mean over users)."""
    wanted = set(relevant)
    return 1.0 if any(item in wanted for item in ranked[:k]) else 0.0
