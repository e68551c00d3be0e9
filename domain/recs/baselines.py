"""Baselines for the items model, trained by the same `items.train` (pure, numpy only).

- G-TopFreq: the most popular items (at the venue, or overall), the same list for everyone.
- P-TopFreq: the user's own items by how many of their baskets hold them, ties broken by the
  more recent purchase, padded with popular items (Li et al., TOIS 2023: hard to beat on
  grocery data). Its scores are the user's basket counts (0 for padding).

Both take the same arguments as `items.recommend_many`, so evaluation can swap them freely.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from domain.recs.items import (
    Basket,
    FloatArray,
    ItemsModel,
    Ranked,
    basket_entries,
    chronological,
    local_columns,
    popular_columns,
    rank_blocks,
)


def g_topfreq_many(
    model: ItemsModel,
    histories: Mapping[int, Sequence[Basket]],
    k: int,
    venue_id: int | None = None,
) -> dict[int, Ranked]:
    """The k most popular items for every user; scores are training basket counts."""
    columns, counts = popular_columns(model, venue_id)
    top = list(zip(model.item_ids[columns[:k]].tolist(), counts[:k].tolist(), strict=True))
    return {user: list(top) for user in histories}


def p_topfreq_many(
    model: ItemsModel,
    histories: Mapping[int, Sequence[Basket]],
    k: int,
    venue_id: int | None = None,
) -> dict[int, Ranked]:
    """Each user's most frequent items, most recent first among equals, then popular ones."""
    users = list(histories)
    ordered = [chronological(histories[u]) for u in users]
    counts = np.fromiter((len(h) for h in ordered), np.int64, len(ordered))
    basket_of, item_columns = basket_entries([b for h in ordered for b in h], model.item_ids)
    owner = np.repeat(np.arange(len(users)), counts)[basket_of]
    position = basket_of - np.repeat(np.cumsum(counts) - counts, counts)[basket_of]
    columns, _ = popular_columns(model, venue_id)
    local = local_columns(columns, len(model.item_ids))[item_columns]
    keep = local >= 0
    owner, local, position = owner[keep], local[keep], position[keep]
    width = len(columns)

    def block(start: int, stop: int) -> tuple[FloatArray, FloatArray]:
        mine = (owner >= start) & (owner < stop)
        cells = (owner[mine] - start) * width + local[mine]
        frequency = np.bincount(cells, minlength=(stop - start) * width).astype(np.float64)
        latest = np.zeros((stop - start) * width, dtype=np.float64)
        np.maximum.at(latest, cells, position[mine] + 1.0)
        # recency as a fraction in (0, 1) below the next whole count: frequency first, then recency
        history = counts[start:stop].repeat(width).astype(np.float64)
        keys = frequency + latest / (history + 1.0)
        return keys.reshape(-1, width), frequency.reshape(-1, width)

    return rank_blocks(users, columns, model.item_ids, k, block)
