"""COPY ... (FORMAT binary) of list rows, packed one row per user and surface, encoded with numpy.

The text format makes the client print and the server parse every id and score (a refresh of
500 users writes ~650k numbers): binary skips both. The arrays of all lists are converted and
laid out by numpy at once; Python touches each list once, for its context, and each packed row
once, for its fixed-size header. Measured on a 100k-user world, per 500-user job: 0.10 s ->
0.04 s to encode, 0.06 s -> 0.03 s to COPY (one row per list, before packing).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import chain, groupby

import numpy as np

from domain.recs.lists import NO_INPUTS, USER_SURFACES, ListRow

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
INT4_OID, INT8_OID, FLOAT4_OID = 23, 20, 700
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def list_rows(rows: Sequence[ListRow], users: Iterable[int] = ()) -> bytes:
    """The binary COPY stream of `rows` packed per (user, surface), lists in their given order,
    for columns (user_id bigint, surface text, contexts bigint[], bounds int[], ids bigint[],
    scores real[], inputs_at timestamptz), stamped with the user's newest input. Each of `users`
    also gets a row without lists for every surface of USER_SURFACES it has no list on, so that
    upserting the rows replaces everything the users had."""
    rows = sorted(rows, key=lambda r: (r.user_id, r.surface))  # stable: context order kept
    counts = np.fromiter((len(r.ids) for r in rows), np.int64, len(rows))
    ids, scores = _elements(rows, int(counts.sum()))
    ends = np.concatenate([[0], np.cumsum(counts)]).tolist()
    spans, first = {}, 0
    for key, group in groupby(rows, key=lambda r: (r.user_id, r.surface)):
        spans[key] = (first, first + len(list(group)))
        first = spans[key][1]
    newest: dict[int, datetime] = {}
    for row in rows:
        newest[row.user_id] = max(row.inputs_at, newest.get(row.user_id, row.inputs_at))
    keys = set(spans) | {(user, surface) for user in users for surface in USER_SURFACES}
    parts = [HEADER]
    for user, surface in sorted(keys):
        a, b = spans.get((user, surface), (0, 0))
        start, stop = ends[a], ends[b]
        parts += [
            _key(user, surface),
            _small_array(INT8_OID, "q", [r.context for r in rows[a:b]]),
            _small_array(INT4_OID, "i", [end - start for end in ends[a : b + 1]]),
            _array_head(INT8_OID, stop - start),
            ids[start * 12 : stop * 12],
            _array_head(FLOAT4_OID, stop - start),
            scores[start * 8 : stop * 8],
            _stamp(newest.get(user, NO_INPUTS)),
        ]
    parts.append(TRAILER)
    return b"".join(parts)


def _elements(rows: Sequence[ListRow], total: int) -> tuple[bytes, bytes]:
    """Every row's ids and scores end to end, each element with its 4-byte length in front."""
    ids = np.empty(total, dtype=[("length", ">i4"), ("value", ">i8")])
    ids["length"] = 8
    ids["value"] = np.fromiter(chain.from_iterable(r.ids for r in rows), np.int64, total)
    scores = np.empty(total, dtype=[("length", ">i4"), ("value", ">f4")])
    scores["length"] = 4
    scores["value"] = np.fromiter(chain.from_iterable(r.scores for r in rows), np.float64, total)
    return ids.tobytes(), scores.tobytes()


def _key(user_id: int, surface: str) -> bytes:
    """The tuple's field count (7), then user_id and surface."""
    name = surface.encode()
    return struct.pack(f">hiqi{len(name)}s", 7, 8, user_id, len(name), name)


def _stamp(at: datetime) -> bytes:
    return struct.pack(">iq", 8, (at - PG_EPOCH) // MICROSECOND)


def _array_head(oid: int, count: int) -> bytes:
    """A one-dimensional array field's length and header, for `count` elements of `oid` (an
    empty array has no dimension)."""
    if not count:
        return struct.pack(">iiii", 12, 0, 0, oid)
    size = 8 if oid == INT8_OID else 4
    return struct.pack(">iiiiii", 20 + count * (4 + size), 1, 0, oid, count, 1)


def _small_array(oid: int, code: str, values: list[int]) -> bytes:
    """A whole array field, elements packed by struct (for a packed row's few contexts)."""
    size = struct.calcsize(">" + code)
    pairs = chain.from_iterable((size, value) for value in values)
    return _array_head(oid, len(values)) + struct.pack(">" + ("i" + code) * len(values), *pairs)
