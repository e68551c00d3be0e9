"""Shared building blocks: strict base model, constrained scalar types, the error type."""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

SCHEMA_VERSION = 1
MAX_BATCH = 1000  # events per message

BIGINT_MAX = 2**63 - 1

Id = Annotated[int, Field(ge=1, le=BIGINT_MAX)]
Version = Annotated[
    int, Field(ge=0, le=BIGINT_MAX, description="Monotonic per entity; newer wins.")
]
_NO_NUL = r"^[^\x00]*$"  # Postgres text cannot hold NUL: reject it at the edge, not in SQL
EventId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_NO_NUL)]
OrderId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=_NO_NUL),
    Field(description="Opaque upstream order id; never parsed."),
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_NO_NUL)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9_\-]+$")]
Lat = Annotated[float, Field(ge=-90, le=90)]
Lon = Annotated[float, Field(ge=-180, le=180)]
MinorUnits = Annotated[int, Field(ge=0, le=10**12, description="Money in minor units (cents).")]
# Timestamps come as ISO-8601 strings over JSON, so this one field type is lax; an offset is required.
Timestamp = Annotated[AwareDatetime, Field(strict=False)]
SchemaVersion = Annotated[
    Literal[1], Field(description="Version of this message's schema; bumped on breaking changes.")
]


class StrictModel(BaseModel):
    """Unknown fields, wrong types and out-of-range values are errors, never coerced."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class InvalidMessage(ValueError):
    """A message that can never succeed: it is dead-lettered, not retried."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def parse(model: type[M], data: Any) -> M:
    """Validate a message into `model`; raises InvalidMessage with a readable reason."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise InvalidMessage(describe(error)) from None


def validate(adapter: TypeAdapter[T], data: Any) -> T:
    """Validate `data` with a TypeAdapter (a union of messages); raises InvalidMessage with a
    readable reason."""
    try:
        return adapter.validate_python(data)
    except ValidationError as error:
        raise InvalidMessage(describe(error)) from None


def describe(error: ValidationError, limit: int = 5) -> str:
    """A short, human-readable summary of a pydantic error (location: message; ...)."""
    parts = [_one(err) for err in error.errors()[:limit]]
    more = error.error_count() - limit
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


def _one(err: Any) -> str:
    location = ".".join(str(p) for p in err["loc"]) or "message"
    return f"{location}: {err['msg']}"


E = TypeVar("E")


class EventBatch(StrictModel, Generic[E]):
    """Up to MAX_BATCH events in one message (each queue's message: one event, or a batch)."""

    type: Literal["batch"]
    schema_version: SchemaVersion
    events: Annotated[list[E], Field(min_length=1, max_length=MAX_BATCH)]


class OneOrBatch(Generic[E]):
    """Parses a message that is one event or a batch of them (`batch`) into its events."""

    def __init__(self, message: Any, batch: type[EventBatch[E]]) -> None:
        self._adapter = TypeAdapter[Any](message)
        self._batch = batch

    def parse(self, data: Any) -> list[E]:
        """The message's events; raises InvalidMessage with a readable reason."""
        message = validate(self._adapter, data)
        return list(message.events) if isinstance(message, self._batch) else [message]
