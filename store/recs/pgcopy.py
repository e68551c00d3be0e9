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
from typing import Any

import numpy as np
import numpy.typing as npt

from domain.recs.flat import ranges
from domain.recs.lists import NO_INPUTS, UserLists
from domain.recs.surfaces import STORED_NAMES

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
INT4_OID, INT8_OID, FLOAT4_OID = 23, 20, 700
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def encode(lists: UserLists, users: Iterable[int] = ()) -> bytes:
    """The binary COPY stream of `lists` packed per (user, surface), each surface's lists in
    the order computed, for columns (user_id bigint, surface text, contexts bigint[], bounds
    int[], ids bigint[], scores real[], inputs_at timestamptz), stamped with the user's newest
    input. Each of `users` also gets a row without lists for every surface of STORED_NAMES it
    has no list on, so that upserting the rows replaces everything the users had."""
    merged = _Merged(lists)
    ids = memoryview(_elements(merged.ids, ">i8"))  # slices of views: no copies until the join
    scores = memoryview(_elements(merged.scores, ">f4"))
    contexts = memoryview(_elements(merged.contexts, ">i8"))
    offsets = memoryview(_elements(merged.offsets, ">i4"))
    first = {key: n for n, key in enumerate(merged.keys)}
    everyone = set(first) | {(user, s) for user in users for s in range(len(STORED_NAMES))}
    heads: dict[int, tuple[bytes, bytes]] = {}  # per user: field count and user_id; inputs_at
    parts: list[bytes | memoryview] = [HEADER]
    for user, surface in sorted(everyone):
        n = first.get((user, surface))
        a, b = (merged.packs[n], merged.packs[n + 1]) if n is not None else (0, 0)
        start, stop = merged.ends[a], merged.ends[b]
        if (head := heads.get(user)) is None:
            head = heads[user] = (
                _ROW_HEAD(7, 8, user),
                _stamp(lists.inputs_at.get(user, NO_INPUTS)),
            )
        parts += [
            head[0],
            _SURFACES[surface],
            _array_head(INT8_OID, 8, b - a),
            contexts[a * 12 : b * 12],
            _array_head(INT4_OID, 4, b - a + 1),
            offsets[(a + n) * 8 : (b + n + 1) * 8] if n is not None else _NO_OFFSETS,
            _array_head(INT8_OID, 8, stop - start),
            ids[start * 12 : stop * 12],
            _array_head(FLOAT4_OID, 4, stop - start),
            scores[start * 8 : stop * 8],
            head[1],
        ]
    parts.append(TRAILER)
    return b"".join(parts)


class _Merged:
    """Every batch's lists in one order, (user, surface) then as computed; `packs[n]` is the
    first list of packed row n (`keys[n]`), `ends[i]` where list i's entries start."""

    def __init__(self, lists: UserLists) -> None:
        code = {surface: n for n, surface in enumerate(STORED_NAMES)}
        parts = [batch.lists for batch in lists.batches]
        users = _joined([p.user_ids for p in parts], np.int64)
        surfaces = _joined(
            [
                np.full(len(p.user_ids), code[b.surface])
                for b, p in zip(lists.batches, parts, strict=True)
            ],
            np.int64,
        )
        lengths = _joined([np.diff(p.bounds) for p in parts], np.int64)
        shifts = accumulate([len(p.ids) for p in parts], initial=0)  # batches end to end
        starts = _joined([p.bounds[:-1] + s for p, s in zip(parts, shifts, strict=False)], np.int64)
        order = np.lexsort((surfaces, users))  # stable: lists keep their computed order
        self.contexts = _joined([p.contexts for p in parts], np.int64)[order]
        entries = ranges(starts[order], lengths[order])
        self.ids = _joined([p.ids for p in parts], np.int64)[entries]
        self.scores = _joined([p.scores for p in parts], np.float64)[entries]
        ends = np.concatenate([[0], np.cumsum(lengths[order])]).astype(np.int64)
        self.ends = ends.tolist()
        key = users[order] * len(STORED_NAMES) + surfaces[order]
        new = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]])) if len(key) else key
        self.packs = np.append(new, len(key)).tolist()
        self.keys = list(
            zip(users[order][new].tolist(), surfaces[order][new].tolist(), strict=True)
        )
        # each packed row's bounds, end to end: 0, then where each of its lists ends (row n's
        # are at [packs[n] + n, packs[n + 1] + n + 1))
        pack_of = np.repeat(np.arange(len(new)), np.diff(self.packs))
        self.offsets = np.insert(ends[1:] - ends[new][pack_of], new, 0)


def _joined(arrays: list[npt.NDArray[Any]], dtype: type[np.generic]) -> npt.NDArray[Any]:
    """The arrays end to end (an empty array of `dtype` when there are none)."""
    return np.concatenate([*arrays, np.zeros(0, dtype)]).astype(dtype, copy=False)


def _elements(values: npt.NDArray[np.generic], dtype: str) -> bytes:
    """Array elements end to end, each with its 4-byte length in front."""
    laid = np.empty(len(values), dtype=[("length", ">i4"), ("value", dtype)])
    laid["length"] = np.dtype(dtype).itemsize
    laid["value"] = values
    return laid.tobytes()


_ROW_HEAD = struct.Struct(">hiq").pack  # the field count (7), then user_id's length and value
_SURFACES = [struct.pack(">i", len(s)) + s.encode() for s in STORED_NAMES]  # text fields


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
