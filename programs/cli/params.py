"""Parameter types the commands share."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click


class AwareDateTime(click.ParamType):
    """An ISO-8601 instant that carries its offset (or Z): a naive one is ambiguous."""

    name = "ISO-8601"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not an ISO-8601 date and time", param, ctx)
        if parsed.utcoffset() is None:
            self.fail(f"{value!r} needs an offset or Z (e.g. {value}Z)", param, ctx)
        return parsed


AWARE_DATETIME = AwareDateTime()


class Since(AwareDateTime):
    """An instant: an age back from now (30m, 2h, 7d), or an ISO-8601 time with its offset."""

    name = "TIME"
    UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        age = re.fullmatch(r"(\d+)([smhd])", value.strip()) if isinstance(value, str) else None
        if age:
            return datetime.now(UTC) - timedelta(**{self.UNITS[age[2]]: int(age[1])})
        return super().convert(value, param, ctx)
