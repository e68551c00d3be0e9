"""Cart cross-sell: per venue, item -> the items bought with it beyond what popularity explains.

For items a and b of one venue, over that venue's N training baskets:

    lift(a, b) = N * together(a, b) / (baskets(a) * baskets(b))

lift 1 is what two independent items show; milk and bread are both popular, so their raw
co-occurrence is high even when one says nothing about the other, and lift corrects that. Lift of
rare pairs is noisy (two baskets can give a huge lift), so a pair needs MIN_TOGETHER baskets and
its lift is shrunk towards 1 by the support: score = 1 + (lift - 1) * together / (together +
SHRINK). Only pairs scoring above 1 are complements. Two parameters, neither tuned on a file.
Items belong to one venue, so pairs never cross venues.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from domain.recs.items import Basket, Csr

IntArray = npt.NDArray[np.int64]

MIN_TOGETHER = 2
SHRINK = 5.0
COMPLEMENTS = 20


@dataclass(frozen=True, eq=False)
class CartModel:
    item_ids: IntArray  # sorted: every item of a training basket
    complements: Csr  # rows, indices: positions in item_ids, best first; data: shrunk lift


def train_cart(baskets: Sequence[Basket], k: int = COMPLEMENTS) -> CartModel:
    sizes = np.array([len(b.items) for b in baskets], dtype=np.int64)
    flat = np.fromiter((i for b in baskets for i in b.items), dtype=np.int64, count=sizes.sum())
    basket_of = np.repeat(np.arange(len(baskets)), sizes)
    item_ids, column = np.unique(flat, return_inverse=True)
    n = len(item_ids)
    venues = np.array([b.venue_id for b in baskets], dtype=np.int64)
    _, venue_of_basket = np.unique(venues, return_inverse=True)
    per_venue = np.bincount(venue_of_basket).astype(np.float64)
    holding = np.bincount(column, minlength=n).astype(np.float64)
    venue_total = np.zeros(n)
    venue_total[column] = per_venue[venue_of_basket[basket_of]]
    a, b, together = _pairs(basket_of, column, n)
    keep = together >= MIN_TOGETHER
    a, b, together = a[keep], b[keep], together[keep].astype(np.float64)
    lift = venue_total[a] * together / (holding[a] * holding[b])
    score = 1.0 + (lift - 1.0) * together / (together + SHRINK)
    good = score > 1.0
    return CartModel(item_ids, _best_per_row(a[good], b[good], score[good], n, k))


def _pairs(basket_of: IntArray, column: IntArray, n: int) -> tuple[IntArray, IntArray, IntArray]:
    """Every ordered pair of distinct items sharing a basket, with how many baskets share it.
    Rows arrive grouped by basket, so the pairs are the rows `offset` apart in the same basket."""
    keys = [np.empty(0, np.int64)]
    longest = int(np.bincount(basket_of).max()) if len(basket_of) else 0
    for offset in range(1, longest):
        same = basket_of[:-offset] == basket_of[offset:]
        x, y = column[:-offset][same], column[offset:][same]
        keys += [x * n + y, y * n + x]
    unique, together = np.unique(np.concatenate(keys), return_counts=True)
    a, b = np.divmod(unique, max(n, 1))
    return a.astype(np.int64), b.astype(np.int64), together.astype(np.int64)


def _best_per_row(a: IntArray, b: IntArray, score: npt.NDArray[np.float64], n: int, k: int) -> Csr:
    order = np.lexsort((b, -score, a))  # by row, best first, ties to the lower item
    a, b, score = a[order], b[order], score[order]
    starts = np.searchsorted(a, a, side="left")
    keep = np.arange(len(a)) - starts < k
    a, b, score = a[keep], b[keep], score[keep]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(a, minlength=n), out=indptr[1:])
    return Csr(indptr, b, score)


def complements_of(model: CartModel, item_id: int) -> list[tuple[int, float]]:
    """The item's complements, best first (empty for an unknown item)."""
    at = int(np.searchsorted(model.item_ids, item_id))
    if at == len(model.item_ids) or model.item_ids[at] != item_id:
        return []
    span = slice(model.complements.indptr[at], model.complements.indptr[at + 1])
    ids = model.item_ids[model.complements.indices[span]].tolist()
    return list(zip(ids, model.complements.data[span].tolist(), strict=True))
