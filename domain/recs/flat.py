"""Lists end to end in flat arrays: what the rankers produce and the bulk write stores, without
a Python object per list or per entry (pure, numpy only)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import pairwise
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


class FlatLists(NamedTuple):
    """List i is user_ids[i]'s for contexts[i] (0 for discovery, the category, the venue), its
    ids and scores at [bounds[i], bounds[i + 1]), best first."""

    user_ids: IntArray
    contexts: IntArray
    bounds: IntArray
    ids: IntArray
    scores: FloatArray

    @classmethod
    def empty(cls) -> FlatLists:
        none = np.zeros(0, np.int64)
        return cls(none, none, np.zeros(1, np.int64), none, np.zeros(0))

    @classmethod
    def concat(cls, parts: Sequence[FlatLists]) -> FlatLists:
        """The lists of `parts`, end to end, in order."""
        if not parts:
            return cls.empty()
        shifts = np.cumsum([0] + [len(p.ids) for p in parts[:-1]])
        bounds = [parts[0].bounds[:1]] + [
            p.bounds[1:] + s for p, s in zip(parts, shifts, strict=True)
        ]
        return cls(
            np.concatenate([p.user_ids for p in parts]).astype(np.int64, copy=False),
            np.concatenate([p.contexts for p in parts]).astype(np.int64, copy=False),
            np.concatenate(bounds).astype(np.int64, copy=False),
            np.concatenate([p.ids for p in parts]).astype(np.int64, copy=False),
            np.concatenate([p.scores for p in parts]).astype(np.float64, copy=False),
        )

    def each(self) -> Iterator[tuple[int, int, list[int], list[float]]]:
        """(user, context, ids, scores) of every list, as Python values."""
        ids, scores = self.ids.tolist(), self.scores.tolist()
        heads = zip(self.user_ids.tolist(), self.contexts.tolist(), strict=True)
        for (user, context), (a, b) in zip(heads, pairwise(self.bounds.tolist()), strict=True):
            yield user, context, ids[a:b], scores[a:b]


def ranges(starts: IntArray, lengths: IntArray) -> IntArray:
    """The indices starts[i] .. starts[i] + lengths[i] - 1 of every i, end to end."""
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(len(shift)) + shift
