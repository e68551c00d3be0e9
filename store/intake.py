"""Apply planned intake rows in the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg

from store import queries


def apply(
    connection: psycopg.Connection[Any], plan: Mapping[str, Sequence[Mapping[str, Any]]]
) -> int:
    """Write every group of rows; returns how many target rows changed (new or newer)."""
    changed = 0
    for event_type, rows in plan.items():
        params = {"rows": json.dumps(rows, separators=(",", ":")), "event_type": event_type}
        cursor = connection.execute(queries.INTAKE[event_type], params)
        changed += max(cursor.rowcount, 0)
    return changed
