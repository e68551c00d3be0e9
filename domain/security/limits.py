"""Payload limits, checked on the decoded JSON before any schema parses it, each with its own
reason: a batch of too many events, a string or a list too long, nesting too deep. (The body's
size in bytes is checked before it is even decoded: `workers/broker.py`.)

Only what a producer writes is walked (`args`, `kwargs`); `options` is Dramatiq's own (retry
counts, a failed attempt's traceback) and bounded by the body size limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BATCH_TOO_LONG = "batch_too_long"
STRING_TOO_LONG = "string_too_long"
LIST_TOO_LONG = "list_too_long"
TOO_DEEP = "too_deep"

Problem = tuple[str, str]  # (kind, reason)


@dataclass(frozen=True)
class PayloadLimits:
    """The defaults admit every valid message: batches of up to 1,000 events (MAX_BATCH), the
    longest string field any schema accepts (an agent's note: 2,000 characters), lists of up to
    1,000 entries (a refresh job's users), and a few levels of nesting."""

    max_batch: int = 1000
    max_string: int = 2000
    max_list: int = 1000
    max_depth: int = 12

    def check(self, fields: dict[str, Any]) -> Problem | None:
        """Why the decoded envelope `fields` is over a limit, or None."""
        for name in ("args", "kwargs"):
            problem = self._walk(fields.get(name), name, 1)
            if problem is not None:
                return problem
        return None

    def _walk(self, value: Any, path: Path, depth: int) -> Problem | None:
        if isinstance(value, dict):
            return self._dict(value, path, depth)
        if isinstance(value, list):
            return self._list(value, path, depth, self.max_list)
        if isinstance(value, str) and len(value) > self.max_string:
            return self._string(path, value)
        return None

    # Members are checked inline, by exact type, and a member's path is only spelled out when
    # it is over a limit: this runs on every message, and a batch holds ~10,000 scalars
    # (~1.5 us per event of a batch, about what decoding its JSON costs).
    def _dict(self, value: dict[str, Any], path: Path, depth: int) -> Problem | None:
        if depth > self.max_depth:
            return TOO_DEEP, f"nested deeper than {self.max_depth} levels at {_spelled(path)}"
        max_string = self.max_string
        for key, member in value.items():
            kind = type(member)
            if kind is str:
                if len(member) > max_string:
                    return self._string((path, key), member)
            elif kind is dict:
                problem = self._dict(member, (path, key), depth + 1)
                if problem is not None:
                    return problem
            elif kind is list:
                limit = self.max_list
                if key == "events" and value.get("type") == "batch":
                    if len(member) > self.max_batch:
                        return BATCH_TOO_LONG, (
                            f"batch too long: {len(member)} events at {_spelled(path)},"
                            f" limit {self.max_batch}"
                        )
                    limit = self.max_batch
                problem = self._list(member, (path, key), depth + 1, limit)
                if problem is not None:
                    return problem
            if len(key) > max_string:
                return self._string((path, "(a key)"), key)
        return None

    def _list(self, value: list[Any], path: Path, depth: int, limit: int) -> Problem | None:
        if depth > self.max_depth:
            return TOO_DEEP, f"nested deeper than {self.max_depth} levels at {_spelled(path)}"
        if len(value) > limit:
            return LIST_TOO_LONG, (
                f"list too long: {len(value)} entries at {_spelled(path)}, limit {limit}"
            )
        max_string = self.max_string
        for index, member in enumerate(value):
            kind = type(member)
            if kind is str:
                if len(member) > max_string:
                    return self._string((path, index), member)
            elif kind is dict:
                problem = self._dict(member, (path, index), depth + 1)
                if problem is not None:
                    return problem
            elif kind is list:
                problem = self._list(member, (path, index), depth + 1, self.max_list)
                if problem is not None:
                    return problem
        return None

    def _string(self, path: Path, value: str) -> Problem:
        return STRING_TOO_LONG, (
            f"string too long: {len(value)} characters at {_spelled(path)}, limit {self.max_string}"
        )


# Where a value sits: (parent path, key or index), nested; the root is the member's name.
Path = tuple[Any, str | int] | str


def _spelled(path: Path) -> str:
    """`args[0].events[3].name`; producers choose keys, so long ones are cut short."""
    parts: list[str] = []
    while isinstance(path, tuple):
        path, step = path
        if isinstance(step, int):
            parts.append(f"[{step}]")
        else:
            parts.append("." + (step if len(step) <= 40 else step[:40] + "..."))
    return str(path) + "".join(reversed(parts))
