"""COPY ... (FORMAT binary) of users' lists, packed one row per user and surface, with numpy.

The text format makes the client print and the server parse every id and score (a refresh of
500 users writes ~250k numbers): binary skips both. The rankers' arrays are reordered and laid
out by numpy at once; Python touches each packed row once, for its fixed-size parts.
Measured on a 100k-user world, per 500-user job (~1,500 packed rows, ~9,000 lists): 0.10 s to
encode text, 0.04 s binary from Python lists, 0.01 s from the rankers' arrays.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import accumulate

import numpy as np
import numpy.typing as npt

from domain.recs.lists import NO_INPUTS, USER_SURFACES, ListBatch, UserLists

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
INT4_OID, INT8_OID, FLOAT4_OID = 23, 20, 700
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
IntArray = npt.NDArray[np.int64]


def encode(lists: UserLists, users: Iterable[int] = ()) -> bytes:
    """The binary COPY stream of `lists` packed per (user, surface), each surface's lists in
    the order computed, for columns (user_id bigint, surface text, contexts bigint[], bounds
    int[], ids bigint[], scores real[], inputs_at timestamptz), stamped with the user's newest
    input. Each of `users` also gets a row without lists for every surface of USER_SURFACES it
    has no list on, so that upserting the rows replaces everything the users had."""
    merged = _Merged(lists)
    ids = _elements(merged.ids, ">i8")
    scores = _elements(merged.scores, ">f4")
    contexts = _elements(merged.contexts, ">i8")
    offsets = _elements(merged.offsets, ">i4")
    first = {key: n for n, key in enumerate(merged.keys)}
    everyone = set(first) | {(user, s) for user in users for s in range(len(USER_SURFACES))}
    parts = [HEADER]
    for user, surface in sorted(everyone):
        n = first.get((user, surface))
        a, b = (merged.packs[n], merged.packs[n + 1]) if n is not None else (0, 0)
        start, stop = merged.ends[a], merged.ends[b]
        parts += [
            struct.pack(">hiq", 7, 8, user),  # the field count, then user_id
            _SURFACES[surface],
            _array_head(INT8_OID, 8, b - a),
            contexts[a * 12 : b * 12],
            _array_head(INT4_OID, 4, b - a + 1),
            offsets[(a + n) * 8 : (b + n + 1) * 8] if n is not None else _NO_OFFSETS,
            _array_head(INT8_OID, 8, stop - start),
            ids[start * 12 : stop * 12],
            _array_head(FLOAT4_OID, 4, stop - start),
            scores[start * 8 : stop * 8],
            _stamp(lists.inputs_at.get(user, NO_INPUTS)),
        ]
    parts.append(TRAILER)
    return b"".join(parts)


class _Merged:
    """Every batch's lists in one order, (user, surface) then as computed; `packs[n]` is the
    first list of packed row n (`keys[n]`), `ends[i]` where list i's entries start."""

    def __init__(self, lists: UserLists) -> None:
        batches = lists.batches
        code = {surface: n for n, surface in enumerate(USER_SURFACES)}
        users = np.concatenate([b.user_ids for b in batches] + [np.zeros(0, np.int64)])
        surfaces = np.concatenate(
            [np.full(len(b.user_ids), code[b.surface], np.int64) for b in batches]
            + [np.zeros(0, np.int64)]
        )
        lengths = np.concatenate([np.diff(b.bounds) for b in batches] + [np.zeros(0, np.int64)])
        starts = np.concatenate(
            [b.bounds[:-1] + shift for b, shift in zip(batches, _shifts(batches), strict=True)]
            + [np.zeros(0, np.int64)]
        )
        order = np.lexsort((surfaces, users))  # stable: lists keep their computed order
        self.contexts = np.concatenate([b.contexts for b in batches] + [np.zeros(0)])[order]
        entries = _ranges(starts[order], lengths[order])
        self.ids = np.concatenate([b.ids for b in batches] + [np.zeros(0)])[entries]
        self.scores = np.concatenate([b.scores for b in batches] + [np.zeros(0)])[entries]
        self.ends = np.concatenate([[0], np.cumsum(lengths[order])]).tolist()
        key = users[order] * len(USER_SURFACES) + surfaces[order]
        new = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]])) if len(key) else key
        self.packs = np.append(new, len(key)).tolist()
        self.keys = list(
            zip(users[order][new].tolist(), surfaces[order][new].tolist(), strict=True)
        )
        # each packed row's bounds, end to end: 0, then where each of its lists ends (row n's
        # are at [packs[n] + n, packs[n + 1] + n + 1))
        ends = np.cumsum(lengths[order])
        pack_of = np.repeat(np.arange(len(new)), np.diff(self.packs))
        row_start = np.asarray(self.ends, dtype=np.int64)[new]
        self.offsets = np.insert(ends - row_start[pack_of], new, 0)


def _shifts(batches: list[ListBatch]) -> list[int]:
    """Where each batch's entries start once all batches' entries are end to end."""
    sizes = [len(b.ids) for b in batches]
    return [total - size for total, size in zip(accumulate(sizes), sizes, strict=True)]


def _ranges(starts: IntArray, lengths: IntArray) -> IntArray:
    """The indices starts[i] .. starts[i] + lengths[i] of every i, end to end."""
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(len(shift)) + shift


def _elements(values: npt.NDArray[np.generic], dtype: str) -> bytes:
    """Array elements end to end, each with its 4-byte length in front."""
    laid = np.empty(len(values), dtype=[("length", ">i4"), ("value", dtype)])
    laid["length"] = np.dtype(dtype).itemsize
    laid["value"] = values
    return laid.tobytes()


_SURFACES = [struct.pack(">i", len(s)) + s.encode() for s in USER_SURFACES]  # text fields


_NO_OFFSETS = struct.pack(">ii", 4, 0)  # the bounds of a row without lists: {0}


def _stamp(at: datetime) -> bytes:
    return struct.pack(">iq", 8, (at - PG_EPOCH) // MICROSECOND)


@lru_cache(maxsize=4096)  # few distinct counts recur: lists of 50 and 100, 8 venues
def _array_head(oid: int, size: int, count: int) -> bytes:
    """A one-dimensional array field's length and header, for `count` elements of `size`
    bytes (an empty array has no dimension)."""
    if not count:
        return struct.pack(">iiii", 12, 0, 0, oid)
    return struct.pack(">iiiiii", 20 + count * (4 + size), 1, 0, oid, count, 1)
