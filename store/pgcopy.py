"""COPY ... (FORMAT binary) of list rows, encoded with numpy.

The text format makes the client print and the server parse every id and score (a refresh of
500 users writes ~650k numbers): binary skips both. The arrays of all rows are converted and
laid out by numpy at once; Python touches each row once, for its fixed-size header. Measured
on a 100k-user world, per 500-user job: 0.10 s -> 0.04 s to encode, 0.06 s -> 0.03 s to COPY.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import chain

import numpy as np

from domain.recs.lists import ListRow

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
INT8_OID, FLOAT4_OID = 20, 700
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
_EMPTY_ARRAY = struct.pack(">iiii", 12, 0, 0, INT8_OID), struct.pack(">iiii", 12, 0, 0, FLOAT4_OID)


def list_rows(rows: Sequence[ListRow]) -> bytes:
    """The binary COPY stream of `rows` for columns (user_id bigint, surface text, context
    bigint, ids bigint[], scores real[], inputs_at timestamptz)."""
    counts = np.fromiter((len(r.ids) for r in rows), np.int64, len(rows))
    ids, scores = _elements(rows, int(counts.sum()))
    ends = np.cumsum(counts).tolist()
    parts = [HEADER]
    for row, end, count in zip(rows, ends, counts.tolist(), strict=True):
        parts += _row(
            row, count, ids[(end - count) * 12 : end * 12], scores[(end - count) * 8 : end * 8]
        )
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


def _row(row: ListRow, count: int, ids: bytes, scores: bytes) -> list[bytes]:
    surface = row.surface.encode()
    key = struct.pack(
        f">hiqi{len(surface)}siq", 6, 8, row.user_id, len(surface), surface, 8, row.context
    )
    stamp = struct.pack(">iq", 8, (row.inputs_at - PG_EPOCH) // MICROSECOND)
    if not count:
        return [key, *_EMPTY_ARRAY, stamp]
    ids_head = struct.pack(">iiiiii", 20 + 12 * count, 1, 0, INT8_OID, count, 1)
    scores_head = struct.pack(">iiiiii", 20 + 8 * count, 1, 0, FLOAT4_OID, count, 1)
    return [key, ids_head, ids, scores_head, scores, stamp]
