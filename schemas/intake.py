"""Intake events: catalog upserts and user events, one per message or a batch of up to 1,000.

Every event carries `type` (the discriminator), `schema_version` and a unique `event_id`;
catalog and user upserts carry a per-entity `version` (newer wins, older is ignored).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Field, StringConstraints, TypeAdapter, model_validator

from schemas.base import (
    EventBatch,
    EventId,
    Id,
    Lat,
    Lon,
    MinorUnits,
    Name,
    OneOrBatch,
    OrderId,
    SchemaVersion,
    StrictModel,
    Tag,
    Timestamp,
    Version,
    validate,
)

HourMinute = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
Surface = Literal["discovery", "category", "venue", "cart", "banner", "brand", "search"]
ActivityKind = Literal["impression", "click", "add_to_cart"]


class _Event(StrictModel):
    schema_version: SchemaVersion
    event_id: EventId


class _Upsert(_Event):
    version: Version


class CityUpserted(_Upsert):
    type: Literal["city.upserted"]
    city_id: Id
    name: Name
    lat: Lat
    lon: Lon
    timezone: Annotated[
        str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+\-/]+$")
    ] = "UTC"


class BrandUpserted(_Upsert):
    type: Literal["brand.upserted"]
    brand_id: Id
    name: Name


class CategoryUpserted(_Upsert):
    """A food category (pizza, sushi, groceries...)."""

    type: Literal["category.upserted"]
    category_id: Id
    name: Name
    slug: Tag
    parent_id: Id | None = None


class OpeningHours(StrictModel):
    """One opening window; `closes` before `opens` means it runs past midnight."""

    weekday: Annotated[int, Field(ge=0, le=6, description="0 = Monday")]
    opens: HourMinute
    closes: HourMinute


class VenueUpserted(_Upsert):
    type: Literal["venue.upserted"]
    venue_id: Id
    city_id: Id
    name: Name
    brand_id: Id | None = None
    lat: Lat
    lon: Lon
    delivery_radius_m: Annotated[int, Field(ge=100, le=50_000)]
    cuisines: Annotated[list[Tag], Field(max_length=20)] = []
    category_ids: Annotated[list[Id], Field(max_length=50)] = []
    price_level: Annotated[int, Field(ge=1, le=4)] = 2
    rating: Annotated[float, Field(ge=0, le=5)] | None = None
    opening_hours: Annotated[list[OpeningHours], Field(max_length=50)] = []
    active: bool = True


class ItemUpserted(_Upsert):
    type: Literal["item.upserted"]
    item_id: Id
    venue_id: Id
    category_id: Id | None = None
    name: Name
    price: MinorUnits
    available: bool = True


class BannerUpserted(_Upsert):
    """A banner and its targeting; an empty targeting list means 'everyone'."""

    type: Literal["banner.upserted"]
    banner_id: Id
    name: Name
    city_ids: Annotated[list[Id], Field(max_length=500)] = []
    category_ids: Annotated[list[Id], Field(max_length=500)] = []
    brand_ids: Annotated[list[Id], Field(max_length=500)] = []
    venue_ids: Annotated[list[Id], Field(max_length=500)] = []
    segments: Annotated[list[Tag], Field(max_length=50)] = []
    starts_at: Timestamp
    ends_at: Timestamp
    active: bool = True

    @model_validator(mode="after")
    def _flight_is_ordered(self) -> BannerUpserted:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class UserUpserted(_Upsert):
    type: Literal["user.upserted"]
    user_id: Id
    city_id: Id
    home_lat: Lat
    home_lon: Lon
    segment: Tag | None = None


class OrderLine(StrictModel):
    item_id: Id
    quantity: Annotated[int, Field(ge=1, le=999)] = 1
    line_no: Annotated[int, Field(ge=1, le=10_000)] | None = None


class OrderCompleted(_Event):
    type: Literal["order.completed"]
    order_id: OrderId
    user_id: Id
    venue_id: Id
    city_id: Id | None = None
    placed_at: Timestamp
    total: MinorUnits | None = None
    lines: Annotated[list[OrderLine], Field(min_length=1, max_length=500)]

    @model_validator(mode="after")
    def _line_numbers_unique(self) -> OrderCompleted:
        numbers = [line.line_no for line in self.lines if line.line_no is not None]
        if len(numbers) != len(set(numbers)):
            raise ValueError("line_no values must be unique within an order")
        return self


class ActivityEvent(_Event):
    """An impression, click or add-to-cart on a surface; at least one target id is set."""

    type: Literal["activity"]
    kind: ActivityKind
    surface: Surface
    user_id: Id
    occurred_at: Timestamp
    venue_id: Id | None = None
    item_id: Id | None = None
    banner_id: Id | None = None
    brand_id: Id | None = None
    category_id: Id | None = None
    position: (
        Annotated[
            int, Field(ge=0, le=10_000, description="The slot shown in, 0 = first (top or left).")
        ]
        | None
    ) = None
    propensity: (
        Annotated[
            float,
            Field(
                gt=0,
                le=1,
                description="The probability the serving policy had of putting this target in this"
                " slot (banners: the read API returns it beside each id); what offline evaluation"
                " (`larder eval banners`) weighs the impression by.",
            ),
        ]
        | None
    ) = None

    @model_validator(mode="after")
    def _has_target(self) -> ActivityEvent:
        targets = (self.venue_id, self.item_id, self.banner_id, self.brand_id, self.category_id)
        if all(t is None for t in targets):
            raise ValueError("an activity event needs at least one target id")
        return self


Event = Annotated[
    CityUpserted
    | BrandUpserted
    | CategoryUpserted
    | VenueUpserted
    | ItemUpserted
    | BannerUpserted
    | UserUpserted
    | OrderCompleted
    | ActivityEvent,
    Field(discriminator="type"),
]


class Batch(EventBatch[Event]):
    """Up to 1,000 events in one message; they are applied in one transaction."""


IntakeMessage = Annotated[Event | Batch, Field(discriminator="type")]


def type_of(model: type[StrictModel]) -> str:
    """The `type` discriminator value of an event model."""
    return str(get_args(model.model_fields["type"].annotation)[0])


_EVENT = TypeAdapter[Event](Event)
_INTAKE = OneOrBatch[Event](IntakeMessage, Batch)


def parse_event(data: Any) -> Event:
    """Validate one event; raises InvalidMessage with a readable reason."""
    return validate(_EVENT, data)


def parse_intake(data: Any) -> list[Event]:
    """Validate an intake message (one event or a batch) into its list of events."""
    return _INTAKE.parse(data)
