"""Pydantic v2 models for every message, event, job and result row larder exchanges.

These are the contract with upstream producers (Python or not); `larder schemas export`
writes them as JSON Schema under `schemas/json/`.
"""

from __future__ import annotations

from schemas.base import MAX_BATCH, SCHEMA_VERSION, InvalidMessage
from schemas.intake import (
    ActivityEvent,
    BannerUpserted,
    Batch,
    BrandUpserted,
    CategoryUpserted,
    CityUpserted,
    Event,
    IntakeMessage,
    ItemUpserted,
    OrderCompleted,
    UserUpserted,
    VenueUpserted,
    parse_event,
    parse_intake,
)

__all__ = [
    "MAX_BATCH",
    "SCHEMA_VERSION",
    "ActivityEvent",
    "BannerUpserted",
    "Batch",
    "BrandUpserted",
    "CategoryUpserted",
    "CityUpserted",
    "Event",
    "IntakeMessage",
    "InvalidMessage",
    "ItemUpserted",
    "OrderCompleted",
    "UserUpserted",
    "VenueUpserted",
    "parse_event",
    "parse_intake",
]
