"""Per-user item recommendations inside a venue (pure, numpy only): a time-decayed personal
repeat vector (TIFU, Hu et al., SIGIR 2020) blended with explore items from item-item
co-occurrence.

Why this model: on grocery next-basket data, a user's own purchase frequency with recency is the
baseline most models fail to beat (Li et al., "A Next Basket Recommendation Reality Check", ACM
TOIS 2023). The personal vector keeps exactly that signal; explore items, the ones the user never
bought, come from what is bought by the same people as the user's items.

For a user with non-empty baskets b_0 .. b_{n-1} (oldest first, each a 0/1 item vector):

- the baskets are split into G = min(n, GROUPS) consecutive groups of near-equal size (newer
  groups take the extra basket, as in the TIFU authors' code);
- basket i, in group g, weighs `within_decay**(n-1-i) * group_decay**(G-1-g) / (|group g| * G)`;
- the user's vector u is the weighted sum of their basket vectors: a time-decayed purchase rate;
- an item the user bought scores alpha * u_i;
- an item j the user never bought scores (1 - alpha) * sum_i u_i P_ij, where row i of P holds
  item i's `neighbours` most similar items (cosine of the items' columns in the training users'
  vectors: bought by the same people, at the same recency), scaled to sum to 1: the user's
  purchase rate spread one step along "bought by the same people".

TIFU-KNN proper takes the explore term from the user's nearest users instead. That needs a
neighbour search per user at every refresh (the most expensive step of a refresh, measured) and
a model holding every training user's vector (memory grows with users); the item graph costs
nnz(u) x `neighbours` terms per user and grows with items only. On Instacart it scores within
noise of TIFU-KNN (see README, "Offline evaluation"). Explore terms never add to items the user
bought: there the co-occurrence term was measured to blur the repeat signal (Recall@10 0.396
with it against 0.399 without).

Item ids are one global space. A venue only restricts the candidates (items ever ordered there) and
supplies the popularity order used for ties, for padding when fewer than k items score, and for
cold start. Items that appear only after training are unknown to the model and are ignored until
the next `train`.

Engineering: the venv has numpy but not scipy, so sparse matrices are CSR triples built with
numpy. A batch of users is scored on a flat array of candidate cells (or a dense block over the
candidate columns); the work per user is O(candidates + nonzeros of u x neighbours), with no
Python loop over items (Python touches each basket to read it and each user's final k results
to return them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import chain
from typing import Any, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt

from domain.recs.flat import FlatLists, ranges

A = TypeVar("A", bound=npt.NDArray[Any])
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Ranked = list[tuple[int, float]]

GROUPS = 3
"""Number of history groups. Fixed, not tuned: the paper's Instacart setting, and it makes
`group_decay` a per-third-of-history decay that does not depend on how long the history is."""

BLOCK_CELLS = 1 << 20
"""Cells per scoring chunk (dense block cells, or explore terms gathered from the graph): about
8 MiB per array, so a batch of any size runs in tens of MiB (workers run many threads)."""

NEIGHBOUR_ROWS = 256
"""Items per block of the item-neighbour search (training): memory grows with the vectors of
the block's buyers, not with all users."""

NO_USER = -1  # larder ids are >= 1, so -1 is never a real user

PADDING_LIMIT = 2
"""Ranking sorts each (user, venue) pair's cells as rows of one padded block while the block is
at most this many times the cells (menus of similar sizes), else in two passes over all cells."""


@dataclass(frozen=True, slots=True)
class Basket:
    """One order as the models see it: its distinct items (`order_id` only breaks time ties)."""

    user_id: int
    venue_id: int
    placed_at: datetime
    items: tuple[int, ...]
    order_id: str = ""


def chronological_key(basket: Basket) -> tuple[datetime, bool, int, str]:
    """Sort key: placed_at, then order id (numerically when it is a number)."""
    numeric = basket.order_id.isascii() and basket.order_id.isdigit()
    return (basket.placed_at, not numeric, int(basket.order_id) if numeric else 0, basket.order_id)


def chronological(baskets: Iterable[Basket]) -> list[Basket]:
    """The non-empty baskets, oldest first."""
    return sorted((b for b in baskets if b.items), key=chronological_key)


@dataclass(frozen=True, slots=True)
class ItemsParams:
    """The model's four hyper-parameters. The personal ones are Hu et al.'s published Instacart
    setting (r_b 0.9, r_g 0.7, alpha 0.9, 3 groups), not tuned on our data.

    within_decay: r_b, the weight a basket keeps for each newer basket of the same user. 0.9 halves
        a basket's weight after ~7 newer ones: recent habits dominate, old ones still count.
        1.0 is plain frequency.
    group_decay: r_g, the extra weight kept per newer third of the user's history (see GROUPS).
        Unlike r_b it is relative to the history's length: the oldest third of a long history is
        discounted as much as that of a short one.
    neighbours: the similar items kept per item (rows of P). 20 is the usual item-kNN setting:
        enough to reach items of venues the user never ordered from through several of their
        items, and it bounds the explore work per user (nnz(u) x 20 terms) and the model
        (items x 20 entries). On Instacart 10 to 300 give the same figures (an item new to the
        user rarely outranks their own repeats there). 0 disables explore items.
    alpha: the weight of the repeat term against the explore term. Instacart is repeat-heavy, so
        the paper's 0.9 keeps the personal term dominant; explore items still fill the list
        after the user's own items, and order every venue the user never ordered from.
    """

    within_decay: float = 0.9
    group_decay: float = 0.7
    neighbours: int = 20
    alpha: float = 0.9

    def __post_init__(self) -> None:
        for name in ("within_decay", "group_decay"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.neighbours < 0:
            raise ValueError(f"neighbours must be >= 0, got {self.neighbours}")


class Csr(NamedTuple):
    """A sparse matrix in compressed sparse row form (columns sorted within each row)."""

    indptr: IntArray
    indices: IntArray
    data: FloatArray


@dataclass(frozen=True, eq=False)
class ItemsModel:
    """Shared artefacts of one `train` run. Arrays are C-contiguous and read-only."""

    params: ItemsParams
    item_ids: IntArray  # column j is item item_ids[j]; sorted
    popularity: FloatArray  # per column: training baskets containing the item
    global_order: IntArray  # every column, most popular first (ties: lower item id)
    venue_ids: IntArray  # sorted
    venue_indptr: IntArray  # venue v's slice of venue_columns / venue_counts
    venue_columns: IntArray  # per venue: its columns, most popular there first
    venue_counts: FloatArray  # per venue: baskets at that venue containing the item
    similar: Csr  # items x items: P, each item's most similar items, each row summing to 1


# ---------------------------------------------------------------------------------------------
# training


def train(history: Sequence[Basket], params: ItemsParams | None = None) -> ItemsModel:
    """Build the shared artefacts from order history (any order, any number of venues)."""
    params = params or ItemsParams()
    baskets = [b for b in history if b.items]
    item_ids = _frozen(np.unique(_flat_items(baskets)))
    basket_of, columns = basket_entries(baskets, item_ids)
    popularity = np.bincount(columns, minlength=len(item_ids)).astype(np.float64)
    venue_ids, venue_indptr, venue_columns, venue_counts = _venue_popularity(
        baskets, basket_of, columns, len(item_ids)
    )
    by_user: dict[int, list[Basket]] = {}
    for basket in baskets:
        by_user.setdefault(basket.user_id, []).append(basket)
    vectors = user_vectors([chronological(by_user[u]) for u in sorted(by_user)], item_ids, params)
    return ItemsModel(
        params=params,
        item_ids=item_ids,
        popularity=_frozen(popularity),
        global_order=_frozen(np.lexsort((np.arange(len(item_ids)), -popularity))),
        venue_ids=_frozen(venue_ids),
        venue_indptr=_frozen(venue_indptr),
        venue_columns=_frozen(venue_columns),
        venue_counts=_frozen(venue_counts),
        similar=_frozen_csr(item_neighbours(vectors, len(item_ids), params.neighbours)),
    )


def _venue_popularity(
    baskets: Sequence[Basket], basket_of: IntArray, columns: IntArray, n_items: int
) -> tuple[IntArray, IntArray, IntArray, FloatArray]:
    """Per venue, its columns ordered by how many of its baskets hold them (ties: lower id)."""
    basket_venues = np.fromiter((b.venue_id for b in baskets), np.int64, len(baskets))
    venue_ids, venue_of_basket = np.unique(basket_venues, return_inverse=True)
    counts = _csr(
        venue_of_basket[basket_of], columns, np.ones(len(columns)), len(venue_ids), n_items
    )
    rows = np.repeat(np.arange(len(venue_ids)), np.diff(counts.indptr))
    order = np.lexsort((counts.indices, -counts.data, rows))
    return venue_ids, counts.indptr, counts.indices[order], counts.data[order]


def _unit_rows_transposed(matrix: Csr, n_cols: int) -> Csr:
    """Rows scaled to unit L2 norm, transposed: the inverted index the cosine search walks."""
    n_rows = len(matrix.indptr) - 1
    rows = np.repeat(np.arange(n_rows), np.diff(matrix.indptr))
    norms = np.sqrt(np.bincount(rows, weights=matrix.data**2, minlength=n_rows))
    return _transposed(Csr(matrix.indptr, matrix.indices, matrix.data / norms[rows]), n_cols)


def _transposed(matrix: Csr, n_cols: int) -> Csr:
    n_rows = len(matrix.indptr) - 1
    rows = np.repeat(np.arange(n_rows), np.diff(matrix.indptr))
    return _csr(matrix.indices, rows, matrix.data, n_cols, n_rows)


def item_neighbours(vectors: Csr, n_items: int, k: int) -> Csr:
    """P: per item, its k most cosine-similar other items (ties: the lower column) over the
    users' vectors, weights scaled to sum to 1. Walks, for a block of items at a time, their
    buyers' vectors: work is the sum over users of nnz(u)^2, memory one block's share of it."""
    n_users = len(vectors.indptr) - 1
    by_user = _unit_rows_transposed(_transposed(vectors, n_items), n_users)  # unit columns
    columns = _transposed(by_user, n_items)  # items x users, unit rows
    parts = [(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))]
    for start in range(0, n_items if k else 0, NEIGHBOUR_ROWS):
        rows = np.arange(start, min(start + NEIGHBOUR_ROWS, n_items))
        owner, candidate, similarity = _cosine(columns, rows, by_user, n_items)
        other = candidate != rows[owner]
        owner, candidate, similarity = _top_per_owner(
            owner[other], candidate[other], similarity[other], len(rows), k
        )
        parts.append((owner + start, candidate, similarity))
    owner, candidate, similarity = (np.concatenate(p) for p in zip(*parts, strict=True))
    total = np.bincount(owner, weights=similarity, minlength=n_items)
    return _csr(owner, candidate, similarity / total[owner], n_items, n_items)


# ---------------------------------------------------------------------------------------------
# personal vectors


def user_vectors(
    histories: Sequence[Sequence[Basket]], item_ids: IntArray, params: ItemsParams
) -> Csr:
    """One TIFU vector per history; each history must be `chronological` (oldest first)."""
    counts = np.fromiter((len(h) for h in histories), np.int64, len(histories))
    baskets = list(chain.from_iterable(histories))
    weights = basket_weights(counts, params)
    basket_of, columns = basket_entries(baskets, item_ids)
    owner = np.repeat(np.arange(len(histories)), counts)[basket_of]
    return _csr(owner, columns, weights[basket_of], len(histories), len(item_ids))


def basket_weights(counts: IntArray, params: ItemsParams) -> FloatArray:
    """The weight of every basket of consecutive histories of `counts` baskets each.

    Groups follow the authors' code: n baskets make G = min(n, GROUPS) groups, the last
    n mod G groups (the newest) one basket larger than the others.
    """
    n = np.repeat(counts, counts)
    i = np.arange(len(n)) - np.repeat(np.cumsum(counts) - counts, counts)  # position in history
    groups = np.minimum(n, GROUPS)
    size, extra = np.divmod(n, groups)
    in_small = (groups - extra) * size  # baskets in the groups of the smaller size
    small = i < in_small
    group = np.where(small, i // size, groups - extra + (i - in_small) // (size + 1))
    group_size = np.where(small, size, size + 1)
    decay = params.within_decay ** (n - 1 - i) * params.group_decay ** (groups - 1 - group)
    return np.asarray(decay / (group_size * groups), dtype=np.float64)


def basket_entries(baskets: Sequence[Basket], item_ids: IntArray) -> tuple[IntArray, IntArray]:
    """(basket index, column) for every distinct known item of every basket, sorted."""
    lengths = np.fromiter((len(b.items) for b in baskets), np.int64, len(baskets))
    items = _flat_items(baskets)
    basket_of = np.repeat(np.arange(len(baskets)), lengths)
    columns = np.searchsorted(item_ids, items)
    known = columns < len(item_ids)
    known[known] = item_ids[columns[known]] == items[known]
    basket_of, columns = basket_of[known], columns[known]
    _, first = np.unique(basket_of * max(len(item_ids), 1) + columns, return_index=True)
    return basket_of[first], columns[first]


def _flat_items(baskets: Sequence[Basket]) -> IntArray:
    total = sum(len(b.items) for b in baskets)
    return np.fromiter(chain.from_iterable(b.items for b in baskets), np.int64, total)


# ---------------------------------------------------------------------------------------------
# recommending


def recommend(
    model: ItemsModel, user_history: Sequence[Basket], venue_id: int | None, k: int
) -> Ranked:
    """The top k (item id, score) for one user, best first; venue None ranks across venues.

    Needs no retraining for new baskets: the history passed in is what is scored. A user with no
    history gets the venue's (or overall) most popular items, with score 0.
    """
    user_id = user_history[0].user_id if user_history else NO_USER
    return recommend_many(model, {user_id: user_history}, k, venue_id)[user_id]


def recommend_many(
    model: ItemsModel,
    histories: Mapping[int, Sequence[Basket]],
    k: int,
    venue_id: int | None = None,
) -> dict[int, Ranked]:
    """`recommend` for many users at once (same results), keyed by user id."""
    users = list(histories)
    query = user_vectors([chronological(histories[u]) for u in users], model.item_ids, model.params)
    columns, _ = popular_columns(model, venue_id)
    local = local_columns(columns, len(model.item_ids))
    cost = len(query.data) * (1 + model.params.neighbours) // max(len(users), 1)

    def block(start: int, stop: int) -> tuple[FloatArray, FloatArray]:
        scores = _scores(model, _row_slice(query, start, stop), local, len(columns))
        return scores, scores

    return rank_blocks(users, columns, model.item_ids, k, block, cost)


def recommend_at_venues(
    model: ItemsModel,
    histories: Mapping[int, Sequence[Basket]],
    venues: Mapping[int, Sequence[int]],
    k: int,
) -> dict[tuple[int, int], Ranked]:
    """`recommend` for each (user, venue) pair asked for, keyed by that pair.

    Same results as one `recommend` per pair, in one vectorised pass: every pair's candidates
    (its venue's items) are laid end to end in one flat array, scored by one `bincount` and
    ranked by one (two-pass, stable) sort, so the cost does not grow with the number of
    distinct venues."""
    found = top_at_venues(model, histories, venues, k)
    return {pair: list(zip(ids, scores, strict=True)) for pair, (ids, scores) in found.items()}


def top_at_venues(
    model: ItemsModel,
    histories: Mapping[int, Sequence[Basket]],
    venues: Mapping[int, Sequence[int]],
    k: int,
) -> dict[tuple[int, int], tuple[list[int], list[float]]]:
    """`recommend_at_venues` with each pair's item ids and scores as two lists."""
    found = venue_lists(model, histories, venues, k)
    return {(user, venue): (ids, scores) for user, venue, ids, scores in found.each()}


def venue_lists(
    model: ItemsModel,
    histories: Mapping[int, Sequence[Basket]],
    venues: Mapping[int, Sequence[int]],
    k: int,
) -> FlatLists:
    """`top_at_venues` as arrays (the shape a refresh stores; contexts are the venues, scores
    rounded to 6 places), in (user, venue) order of `histories` then `venues[user]`."""
    users = list(histories)
    pairs = [(row, venue) for row, user in enumerate(users) for venue in venues.get(user, ())]
    if not pairs:
        return FlatLists.empty()
    rows = np.fromiter((row for row, _ in pairs), np.int64, len(pairs))
    venue_ids = np.fromiter((venue for _, venue in pairs), np.int64, len(pairs))
    owners = np.array(users, dtype=np.int64)[rows]
    if len(model.venue_ids) == 0:  # a model trained on no orders: an empty list per pair
        none = np.zeros(0, np.int64)
        return FlatLists(owners, venue_ids, np.zeros(len(pairs) + 1, np.int64), none, np.zeros(0))
    query = user_vectors([chronological(histories[u]) for u in users], model.item_ids, model.params)
    layout = _PairLayout(model, pairs)
    repeat, explore = _terms(model, query)
    ids, scores, bounds = layout.top(_blend(layout.cells(*repeat), layout.cells(*explore)), k)
    return FlatLists(owners, venue_ids, bounds, ids, scores)


Terms = tuple[IntArray, IntArray, FloatArray]  # (query row, column, value) of score terms
Cells = tuple[IntArray, FloatArray, int]  # (flat cell, value) of terms, and the cell count


def _terms(model: ItemsModel, query: Csr) -> tuple[Terms, Terms]:
    """The repeat terms (alpha x the user's vector) and the explore terms ((1 - alpha) x each
    of the user's items' row of P) of every query row."""
    alpha, similar = model.params.alpha, model.similar
    owner, at = _gather(query, np.arange(len(query.indptr) - 1))
    repeat = owner, query.indices[at], alpha * query.data[at]
    term, entry = _gather(similar, query.indices[at])
    values = (1.0 - alpha) * query.data[at][term] * similar.data[entry]
    return repeat, (owner[term], similar.indices[entry], values)


def _blend(repeat: Cells, explore: Cells) -> FloatArray:
    """Per cell, the sum of its terms; explore terms only in cells without a repeat term (an
    item the user bought scores by their own purchases alone)."""
    size = repeat[2]
    bought = np.zeros(size, dtype=bool)
    bought[repeat[0]] = True
    new = ~bought[explore[0]]
    flat = np.concatenate([repeat[0], explore[0][new]])
    values = np.concatenate([repeat[1], explore[1][new]])
    return np.bincount(flat, weights=values, minlength=size).astype(np.float64, copy=False)


class _PairLayout:
    """The candidates of every (query row, venue) pair, end to end: pair p owns cells
    start[p] .. start[p] + width[p], one per item of its venue, in the venue's popularity order."""

    def __init__(self, model: ItemsModel, pairs: Sequence[tuple[int, int]]) -> None:
        self.model = model
        venue_ids = np.array([venue for _, venue in pairs], dtype=np.int64)
        self.venue = _rows_of(model.venue_ids, venue_ids)
        known = self.venue >= 0
        begin = np.where(known, model.venue_indptr[np.maximum(self.venue, 0)], 0)
        end = np.where(known, model.venue_indptr[np.maximum(self.venue, 0) + 1], 0)
        self.begin, self.width = begin, end - begin
        self.start = np.concatenate([[0], np.cumsum(self.width)[:-1]]).astype(np.int64)
        self.total = int(self.width.sum())
        keys = np.array([row for row, _ in pairs], dtype=np.int64) * len(model.venue_ids)
        # a pair at a venue the model does not know has no cells and matches no term (-1)
        self.keys = np.where(self.venue >= 0, keys + self.venue, -1)
        self.order = np.argsort(self.keys, kind="stable")
        self.by_column, self.sole_venue = _venues_of_columns(model)
        self.table = self._table()

    def _table(self) -> npt.NDArray[np.int32] | None:
        """Pair of each (row, venue) key as a dense array, when it fits in BLOCK_CELLS cells (a
        refresh job's 500 users in a world of ~1,600 venues do): a lookup per term instead of a
        binary search. A key asked for twice maps to its first pair, as the search does."""
        size = int(self.keys.max(initial=-1)) + 1
        if size > BLOCK_CELLS:
            return None
        table = np.full(size, -1, dtype=np.int32)  # pairs: a job has thousands, not 2^31
        unique, first = np.unique(self.keys, return_index=True)
        table[unique[unique >= 0]] = first[unique >= 0]
        return table

    def _pairs_of(self, key: IntArray) -> tuple[IntArray, npt.NDArray[np.bool_]]:
        """The pair of each key, and whether there is one (-1 and False are equally ignorable)."""
        if self.table is not None:
            if len(self.table) == 0:  # every pair is at a venue the model does not know
                return np.full(len(key), -1, dtype=np.int64), np.zeros(len(key), dtype=bool)
            inside = key < len(self.table)
            pair = np.where(inside, self.table[np.where(inside, key, 0)], -1)
            return pair, pair >= 0
        at = np.minimum(np.searchsorted(self.keys[self.order], key), len(self.keys) - 1)
        pair = self.order[at]
        return pair, self.keys[pair] == key

    def cells(self, owner: IntArray, columns: IntArray, values: FloatArray) -> Cells:
        """The cell of every term in each pair of its owner whose venue sells its item. When
        every item is listed by exactly one venue, a term is one entry: its venue and position
        there are read per column, without expanding terms into entries."""
        if self.sole_venue is not None:
            venue, local = self.sole_venue[0][columns], self.sole_venue[1][columns]
        else:
            term, entry = _gather(self.by_column, columns)
            owner, values = owner[term], values[term]
            venue = self.by_column.data[entry].astype(np.int64)  # the venue listing the item
            local = self.by_column.indices[entry] - self.model.venue_indptr[venue]
        pair, hit = self._pairs_of(owner * len(self.model.venue_ids) + venue)
        return self.start[pair[hit]] + local[hit], values[hit], self.total

    def top(self, scores: FloatArray, k: int) -> tuple[IntArray, FloatArray, IntArray]:
        """Per pair, its k best cells, best first; ties go to the more popular item: the item ids
        and scores (rounded to 6 places) of every pair end to end, and where each pair's start
        (pair p is [bounds[p], bounds[p + 1]))."""
        segment = np.repeat(np.arange(len(self.width)), self.width)
        chosen = self._best_cells(scores, segment, k)
        entry = chosen + (self.begin - self.start)[segment[chosen]]  # its venue's entries
        items = self.model.item_ids[self.model.venue_columns[entry]]
        bounds = np.concatenate([[0], np.cumsum(np.minimum(self.width, k))]).astype(np.int64)
        return items, np.round(scores[chosen], 6), bounds

    def _best_cells(self, scores: FloatArray, segment: IntArray, k: int) -> IntArray:
        """= np.lexsort((local, -scores, segment)) cut at k per segment. Without negative scores
        (what `_blend` makes), only the cells with a score are sorted (`_scored_first`). Else:
        venues' menus are of similar sizes, so the pairs' cells are sorted as rows of one padded
        block (short, cache-friendly sorts) unless padding would dominate; else in two stable
        passes over all cells (which start in local order)."""
        if self.total and float(scores.min()) >= 0.0:  # (a NaN is not >= 0: sorted below)
            return self._scored_first(scores, segment, k)
        width = int(self.width.max(initial=0))
        if len(self.width) * width <= PADDING_LIMIT * self.total:
            block = np.full((len(self.width), width), np.inf)
            block[segment, np.arange(self.total) - self.start[segment]] = -scores
            order = np.argsort(block, axis=1, kind="stable")
            keep = np.arange(width)[None, :] < np.minimum(self.width, k)[:, None]
            return (self.start[:, None] + order)[keep]
        by_score = np.argsort(-scores, kind="stable")
        order = by_score[np.argsort(segment[by_score], kind="stable")]
        return order[(np.arange(self.total) - self.start[segment[order]]) < k]

    def _scored_first(self, scores: FloatArray, segment: IntArray, k: int) -> IntArray:
        """`_best_cells` when no score is negative: most cells have no term, score 0, and tie,
        so a pair's order is its scored cells sorted (stable: ties in local order), then its 0
        cells in local order. Only the scored cells (~1 in 8 in a refresh job) are sorted; the
        0 cells fill the slots left, in the order they come."""
        scored = scores > 0.0
        hot = np.flatnonzero(scored)
        hot = hot[np.argsort(-scores[hot], kind="stable")]
        hot = hot[np.argsort(segment[hot], kind="stable")]
        hot_count = np.bincount(segment[hot], minlength=len(self.width))
        rank = np.arange(len(hot)) - np.repeat(np.cumsum(hot_count) - hot_count, hot_count)
        hot = hot[rank < k]
        kept = np.minimum(self.width, k)
        first = np.cumsum(kept) - kept  # where each pair's cells start in the result
        slots = first[segment[hot]] + rank[rank < k]
        chosen = np.empty(int(kept.sum()), dtype=np.int64)
        chosen[slots] = hot
        rest = np.ones(len(chosen), dtype=bool)
        rest[slots] = False
        cold = np.flatnonzero(~scored)  # in (pair, local) order already
        cold_count, cold_kept = self.width - hot_count, kept - np.minimum(hot_count, k)
        if not np.array_equal(cold_count, cold_kept):  # pairs of more than k cells: the first
            cold = cold[ranges(np.cumsum(cold_count) - cold_count, cold_kept)]
        chosen[rest] = cold
        return chosen


@lru_cache(maxsize=4)  # per model: the same for every refresh job
def _venues_of_columns(model: ItemsModel) -> tuple[Csr, tuple[IntArray, IntArray] | None]:
    """Which venues list each column (`_column_entries`), and, when every item is listed by
    exactly one venue (e.g. items belong to a venue), that venue and the item's position there,
    per column."""
    by_column = _column_entries(model)
    if not np.all(np.diff(by_column.indptr) == 1):
        return by_column, None
    entry = by_column.indptr[:-1]
    venue = by_column.data[entry].astype(np.int64)
    return by_column, (venue, by_column.indices[entry] - model.venue_indptr[venue])


def _column_entries(model: ItemsModel) -> Csr:
    """For each column, the venues listing it: CSR rows = columns, indices = position in
    venue_columns, data = the venue's index (stored as float: Csr's data type)."""
    venue_of = np.repeat(np.arange(len(model.venue_ids)), np.diff(model.venue_indptr))
    order = np.argsort(model.venue_columns, kind="stable")
    indptr = np.zeros(len(model.item_ids) + 1, dtype=np.int64)
    np.cumsum(np.bincount(model.venue_columns, minlength=len(model.item_ids)), out=indptr[1:])
    return Csr(indptr, order.astype(np.int64), venue_of[order].astype(np.float64))


def popular_columns(model: ItemsModel, venue_id: int | None) -> tuple[IntArray, FloatArray]:
    """Candidate columns, most popular first, with their basket counts (venue None: all).

    A venue the model never saw has no known items, hence no candidates.
    """
    if venue_id is None:
        return model.global_order, model.popularity[model.global_order]
    v = int(np.searchsorted(model.venue_ids, venue_id))
    if v == len(model.venue_ids) or model.venue_ids[v] != venue_id:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    span = slice(model.venue_indptr[v], model.venue_indptr[v + 1])
    return model.venue_columns[span], model.venue_counts[span]


def local_columns(columns: IntArray, n_items: int) -> IntArray:
    """Map from model column to position among the candidates (-1: not a candidate)."""
    local = np.full(n_items, -1, dtype=np.int64)
    local[columns] = np.arange(len(columns))
    return local


BlockScorer = Callable[[int, int], tuple[FloatArray, FloatArray]]


def rank_blocks(
    users: Sequence[int],
    columns: IntArray,
    item_ids: IntArray,
    k: int,
    block: BlockScorer,
    cost_per_user: int = 0,
) -> dict[int, Ranked]:
    """Rank candidates for each user, a chunk of rows at a time.

    `block(start, stop)` returns two dense (rows x candidates) arrays: the ranking keys and the
    scores to report. Ties in the key go to the more popular candidate (`columns` order).
    Chunks hold about BLOCK_CELLS cells: the dense block, or `cost_per_user` cells per user.
    """
    if len(columns) == 0:  # e.g. a venue the model never saw: nothing to rank
        return {user: [] for user in users}
    step = max(1, BLOCK_CELLS // max(len(columns), cost_per_user, 1))
    ranked: dict[int, Ranked] = {}
    for start in range(0, len(users), step):
        stop = min(start + step, len(users))
        keys, shown = block(start, stop)
        top = top_k_columns(keys, k)
        rows = np.arange(stop - start)[:, None]
        ids = item_ids[columns[top]].tolist()
        scores = shown[rows, top].tolist()
        for row, user in enumerate(users[start:stop]):
            ranked[user] = list(zip(ids[row], scores[row], strict=True))
    return ranked


def top_k_columns(keys: FloatArray, k: int) -> IntArray:
    """Per row, the columns of the k largest keys, best first; ties go to the lower column.

    Work is linear in the block (a partition, a cumulative sum) plus a sort of k per row.
    """
    n_rows, width = keys.shape
    k = min(k, width)
    if k <= 0:
        return np.empty((n_rows, 0), dtype=np.int64)
    threshold = np.partition(keys, width - k, axis=1)[:, width - k, None]
    above = keys > threshold
    at = keys == threshold
    room = k - above.sum(axis=1, keepdims=True)
    take = above | (at & (np.cumsum(at, axis=1) <= room))
    rows, cols = np.nonzero(take)
    order = np.lexsort((cols, -keys[rows, cols], rows))
    return cols[order].reshape(n_rows, k).astype(np.int64)


def _scores(model: ItemsModel, query: Csr, local: IntArray, width: int) -> FloatArray:
    """Dense (query rows x width candidates) scores."""
    repeat, explore = _terms(model, query)
    size = (len(query.indptr) - 1) * width
    cells = [_cells(*terms, local, width, size) for terms in (repeat, explore)]
    return _blend(*cells).reshape(-1, width)


def _cells(
    owner: IntArray, columns: IntArray, values: FloatArray, local: IntArray, width: int, size: int
) -> Cells:
    """Flat indices into a (rows x width) block for the terms on candidate columns."""
    position = local[columns]
    keep = position >= 0
    return owner[keep] * width + position[keep], values[keep], size


def _row_slice(matrix: Csr, start: int, stop: int) -> Csr:
    indptr = matrix.indptr[start : stop + 1]
    span = slice(indptr[0], indptr[-1])
    return Csr(indptr - indptr[0], matrix.indices[span], matrix.data[span])


def _top_per_owner(
    owner: IntArray, candidate: IntArray, similarity: FloatArray, n_rows: int, k: int
) -> tuple[IntArray, IntArray, FloatArray]:
    """Per owner (ascending on input, candidates ascending within it), its k most similar
    candidates, ties to the lower candidate: in (owner, -similarity, candidate) order."""
    contender = similarity >= _kth_largest(owner, similarity, n_rows, k)[owner]
    owner, candidate, similarity = owner[contender], candidate[contender], similarity[contender]
    # = np.lexsort((candidate, -similarity, owner)) in two stable passes: pairs come in
    # (owner, candidate) order
    by_similarity = np.argsort(-similarity, kind="stable")
    order = by_similarity[np.argsort(owner[by_similarity], kind="stable")]
    owner, candidate, similarity = owner[order], candidate[order], similarity[order]
    rank = np.arange(len(owner)) - np.searchsorted(owner, owner, side="left")
    keep = rank < k
    return owner[keep], candidate[keep].astype(np.int64), similarity[keep]


def _cosine(
    query: Csr, rows: IntArray, postings: Csr, n_targets: int
) -> tuple[IntArray, IntArray, FloatArray]:
    """Sparse cosine similarity of the query rows to the targets that share a column with
    them, walking the postings (column -> targets, unit-length targets) of the query's columns:
    (query row, target, positive similarity), ordered by query row then target. Work grows
    with those postings, not with the number of targets."""
    n_targets = max(n_targets, 1)
    owner, at = _gather(query, rows)
    norms = np.sqrt(np.bincount(owner, weights=query.data[at] ** 2, minlength=len(rows)))
    unit = query.data[at] / np.where(norms > 0.0, norms, 1.0)[owner]
    entry, posting = _gather(postings, query.indices[at])
    # each posting list is a sorted run of training rows, so a stable sort groups the pairs cheaply
    order, first = _stable_groups(owner[entry] * n_targets + postings.indices[posting])
    entry, posting = entry[order], posting[order]
    values = unit[entry] * postings.data[posting]
    group = np.cumsum(first) - 1
    similarity = np.bincount(group, weights=values).astype(float)  # one bin per group
    positive = similarity > 0.0
    pair = np.flatnonzero(first)[positive]
    return owner[entry[pair]], postings.indices[posting[pair]], similarity[positive]


def _kth_largest(owner: IntArray, values: FloatArray, n_rows: int, k: int) -> FloatArray:
    """Per row (`owner` ascending), its k-th largest value; -inf for rows with at most k.

    Only values >= it can rank in a row's top k, so the caller sorts those alone. Rows with more
    than k values go, negated and padded with +inf, into dense blocks and are partitioned:
    linear work, where sorting every value was most of a neighbour search. A block holds rows
    with at least half the values of its first (rows go longest first), so it is at most about
    half padding, and about BLOCK_CELLS cells. (Negated: numpy's partition was ~8x slower with
    the padding at the low end, measured.)
    """
    counts = np.bincount(owner, minlength=n_rows)
    kth = np.full(n_rows, -np.inf)
    crowded = np.flatnonzero(counts > k)
    if len(crowded) == 0:
        return kth
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    crowded = crowded[np.argsort(-counts[crowded], kind="stable")]
    shorter = -counts[crowded]  # ascending
    start = 0
    while start < len(crowded):
        width = int(counts[crowded[start]])
        half = int(np.searchsorted(shorter, -(width // 2), side="right"))
        stop = min(half, start + max(1, BLOCK_CELLS // width))
        rows = crowded[start:stop]
        start = stop
        local, at = _gather(Csr(indptr, owner, values), rows)  # only indptr is read
        block = np.full((len(rows), width), np.inf)
        block[local, at - indptr[rows][local]] = -values[at]
        kth[rows] = -np.partition(block, k - 1, axis=1)[:, k - 1]
    return kth


def _stable_groups(keys: IntArray) -> tuple[IntArray, npt.NDArray[np.bool_]]:
    """The stable sort order of `keys`, and where each run of equal sorted keys starts.

    What `np.unique(keys, return_inverse=True)` gives, cheaper on keys made of sorted runs (a
    stable sort merges them), and with equal keys left in input order, so sums over a group
    taken in sorted order add its terms in the same order as a `bincount` of the inverse.
    """
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    first = np.ones(len(keys), dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return order, first


# ---------------------------------------------------------------------------------------------
# sparse helpers


def _csr(rows: IntArray, cols: IntArray, values: FloatArray, n_rows: int, n_cols: int) -> Csr:
    """CSR from coordinates, duplicates summed (in input order, so results are reproducible)."""
    keys, inverse = np.unique(rows * max(n_cols, 1) + cols, return_inverse=True)
    data = np.bincount(inverse.ravel(), weights=values, minlength=len(keys))
    row_of, indices = np.divmod(keys, max(n_cols, 1))
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(row_of, minlength=n_rows), out=indptr[1:])
    return Csr(indptr, indices.astype(np.int64), data.astype(np.float64))


def _gather(matrix: Csr, rows: IntArray) -> tuple[IntArray, IntArray]:
    """For the given rows (repeats allowed): which requested row owns each stored entry, and
    the entry's position in matrix.indices / matrix.data."""
    starts = matrix.indptr[rows]
    lengths = matrix.indptr[rows + 1] - starts
    return np.repeat(np.arange(len(rows)), lengths), ranges(starts, lengths)


def _rows_of(sorted_ids: IntArray, ids: IntArray) -> IntArray:
    """Row of each id in sorted_ids, -1 when absent."""
    rows = np.searchsorted(sorted_ids, ids)
    found = rows < len(sorted_ids)
    found[found] = sorted_ids[rows[found]] == ids[found]
    return np.where(found, rows, -1).astype(np.int64)


def _frozen(array: A) -> A:
    """C-contiguous and read-only: models are shared between worker threads."""
    frozen = np.ascontiguousarray(array)
    frozen.flags.writeable = False
    return frozen  # type: ignore[return-value]


def _frozen_csr(matrix: Csr) -> Csr:
    return Csr(_frozen(matrix.indptr), _frozen(matrix.indices), _frozen(matrix.data))
