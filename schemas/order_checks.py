"""The order-problem checks' messages and records: lifecycle events (what happens to one order,
from creation to delivery or cancellation), the problem records support agents see (`larder
inbox list`, `GET /v1/inbox`) and what an agent sends to act on one.

Lifecycle events:

Every event carries `type` (the discriminator), `schema_version`, a unique `event_id`, the
opaque `order_id`, `occurred_at` (ISO-8601 with an offset; normalised to UTC) and `sequence`,
a per-order integer the producer increases with every event of that order. Consumers use the
sequence, never arrival order, to decide what is newer: events may arrive late, twice, or
before the order's own `order.created`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    computed_field,
)

from schemas.base import (
    BIGINT_MAX,
    EventBatch,
    EventId,
    Id,
    Lat,
    Lon,
    MinorUnits,
    OneOrBatch,
    OrderId,
    SchemaVersion,
    StrictModel,
    Tag,
    Timestamp,
    validate,
)

MAX_ORDER_ITEMS = 500

CancelledBy = Literal["user", "venue", "support", "system"]


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcTimestamp = Annotated[Timestamp, AfterValidator(_to_utc)]
OrderSequence = Annotated[
    int,
    Field(ge=0, le=BIGINT_MAX, description="Per-order, increasing with every event of the order."),
]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=r"^[^\x00]*$")]


class _LifecycleEvent(StrictModel):
    schema_version: SchemaVersion
    event_id: EventId
    order_id: OrderId
    occurred_at: UtcTimestamp
    sequence: OrderSequence


class OrderItem(StrictModel):
    item_id: Id
    quantity: Annotated[int, Field(ge=1, le=999)]


class OrderCreated(_LifecycleEvent):
    """The user placed the order; `promised_delivery_at` is what the user was promised."""

    type: Literal["order.created"]
    user_id: Id
    venue_id: Id
    city_id: Id
    items: Annotated[list[OrderItem], Field(min_length=1, max_length=MAX_ORDER_ITEMS)]
    total: MinorUnits
    payment_method: Annotated[Tag, Field(description="e.g. card, wallet, cash")]
    promised_delivery_at: UtcTimestamp


class PaymentAuthorized(_LifecycleEvent):
    type: Literal["payment.authorized"]


class PaymentFailed(_LifecycleEvent):
    """An authorization attempt failed; the user may retry (a later payment.authorized)."""

    type: Literal["payment.failed"]
    reason: Reason | None = None


class VenueAccepted(_LifecycleEvent):
    """The venue accepted; a repeated event with a higher sequence updates the estimate."""

    type: Literal["venue.accepted"]
    estimated_ready_at: UtcTimestamp


class VenueRejected(_LifecycleEvent):
    type: Literal["venue.rejected"]
    reason: Reason


class OrderReady(_LifecycleEvent):
    type: Literal["order.ready"]


class CourierAssigned(_LifecycleEvent):
    type: Literal["courier.assigned"]
    courier_id: Id


class CourierUnassigned(_LifecycleEvent):
    type: Literal["courier.unassigned"]
    courier_id: Id | None = None
    reason: Reason | None = None


class CourierArrivedAtVenue(_LifecycleEvent):
    type: Literal["courier.arrived_at_venue"]
    courier_id: Id | None = None


class OrderPickedUp(_LifecycleEvent):
    type: Literal["order.picked_up"]
    courier_id: Id | None = None


class CourierLocation(_LifecycleEvent):
    """One position sample of the courier carrying (or heading to) the order."""

    type: Literal["courier.location"]
    lat: Lat
    lon: Lon
    courier_id: Id | None = None


class OrderDelivered(_LifecycleEvent):
    type: Literal["order.delivered"]


class OrderCancelled(_LifecycleEvent):
    type: Literal["order.cancelled"]
    by: CancelledBy
    reason: Reason


class ItemUnavailable(_LifecycleEvent):
    """The venue cannot supply an item of the order; it waits for a substitution."""

    type: Literal["item.unavailable"]
    item_id: Id


class ItemSubstituted(_LifecycleEvent):
    """The unavailable item is resolved: replaced by `substitute_item_id`, or removed if absent."""

    type: Literal["item.substituted"]
    item_id: Id
    substitute_item_id: Id | None = None


LIFECYCLE_TYPES: tuple[type[_LifecycleEvent], ...] = (
    OrderCreated,
    PaymentAuthorized,
    PaymentFailed,
    VenueAccepted,
    VenueRejected,
    OrderReady,
    CourierAssigned,
    CourierUnassigned,
    CourierArrivedAtVenue,
    OrderPickedUp,
    CourierLocation,
    OrderDelivered,
    OrderCancelled,
    ItemUnavailable,
    ItemSubstituted,
)

LifecycleEvent = Annotated[
    OrderCreated
    | PaymentAuthorized
    | PaymentFailed
    | VenueAccepted
    | VenueRejected
    | OrderReady
    | CourierAssigned
    | CourierUnassigned
    | CourierArrivedAtVenue
    | OrderPickedUp
    | CourierLocation
    | OrderDelivered
    | OrderCancelled
    | ItemUnavailable
    | ItemSubstituted,
    Field(discriminator="type"),
]


class LifecycleBatch(EventBatch[LifecycleEvent]):
    """Up to 1,000 lifecycle events of any orders in one message (the `order_checks` queue);
    they are applied in one transaction."""


OrderChecksMessage = Annotated[LifecycleEvent | LifecycleBatch, Field(discriminator="type")]

_LIFECYCLE = TypeAdapter[LifecycleEvent](LifecycleEvent)
_MESSAGE = OneOrBatch[LifecycleEvent](OrderChecksMessage, LifecycleBatch)


def parse_lifecycle(data: Any) -> LifecycleEvent:
    """Validate one order lifecycle event; raises InvalidMessage with a readable reason."""
    return validate(_LIFECYCLE, data)


def parse_order_checks(data: Any) -> list[LifecycleEvent]:
    """Validate an `order_checks` message (one lifecycle event or a batch) into its events."""
    return _MESSAGE.parse(data)


# ---------------------------------------------------------------- problem records

Status = Literal["open", "resolved"]
Resolution = Literal["condition_cleared", "order_finished", "agent", "silenced"]


class ProblemChange(BaseModel):
    """One entry of a record's history."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: datetime
    change: str = Field(
        description="opened, severity, muted, unmuted, acknowledged, assigned, noted, silenced, "
        "unsilenced (the silence ran out with the trouble still there: a new record opens if it "
        "still holds), resolved, or ended (the condition cleared after an agent had resolved "
        "the record)."
    )
    actor: str = Field(description="The agent's name, or `larder` for the checks.")
    note: str | None = None
    details: dict[str, Any] | None = None


class Problem(BaseModel):
    """One problem record: a rule that fired for an order (or, for venue rules, a venue)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    problem_id: int
    rule: str
    status: Status
    severity: Literal["warning", "critical"]
    muted: bool = Field(
        description="Inhibited by an open cause: a venue-level problem on its venue, or a "
        "per-order rule on the same order (details.muted_by)."
    )
    order_id: str | None = Field(description="None for venue-level rules.")
    venue_id: int | None
    city_id: int | None
    since: datetime = Field(description="When the condition became true.")
    opened_at: datetime = Field(description="When the checks detected it.")
    last_seen_at: datetime
    ended_at: datetime | None = Field(
        description="When the condition cleared or the order finished (None while it lasts)."
    )
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolution: Resolution | None
    resolved_by: str | None
    details: dict[str, Any] = Field(
        description="What is wrong and by how much, and the order's last events."
    )
    version: int = Field(
        description="Bumped by every agent action and when the episode ends: an action names the "
        "version it saw, and is refused (409) if the record changed since."
    )
    assigned_to: str | None = Field(description="The agent the record is assigned to.")
    silenced_until: datetime | None = Field(
        description="Hidden from the open inbox until then; if the trouble lasts past it, this "
        "record ends (resolution `silenced`) and a new one opens."
    )
    silenced_by: str | None
    history: list[ProblemChange] | None = None
    explanation: str | None = Field(
        default=None, description="The rule in words (the rules table); in a single record."
    )
    timeline: dict[str, Any] | None = Field(
        default=None,
        description="In a single order record: `happened` (the order's events, oldest first) "
        "and `expected` (what should have happened by when, by the rules' thresholds; "
        "`overdue` at the time of the request).",
    )
    muted_by: str | None = Field(
        default=None, description="While muted: the cause's rule (see `cause_problem_id`)."
    )
    cause_problem_id: int | None = Field(
        default=None,
        description="While muted: the record of its cause; the card shows it under that cause.",
    )
    symptoms: list[Problem] | None = Field(
        default=None,
        description="Listed by cards: the records muted under this one (its symptoms).",
    )

    @computed_field(  # type: ignore[prop-decorator]
        description="Seconds from `since` to `opened_at`, never below 0."
    )
    @property
    def detection_lag_s(self) -> float:
        """How long the condition lasted before the checks opened the record, in seconds, at
        least 0. `since` comes from the producers' clocks (the events' `occurred_at`) and
        `opened_at` from the checks' clock; when those disagree (a producer's clock ahead, or
        a simulation on a scaled clock whose events are stamped ahead of the real one) the
        difference can be negative, which is no lag at all, not a detection before the fact."""
        return max(0.0, (self.opened_at - self.since).total_seconds())


AgentName = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00\n\r]+$")
]
Note = Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")]


class AgentAction(StrictModel):
    """An agent acting on a record (the CLI: the agent is named; over HTTP it is the key's
    principal)."""

    agent: AgentName
    note: Note | None = None


SILENCE_MAX_MINUTES = 7 * 24 * 60
SilenceMinutes = Annotated[int, Field(ge=1, le=SILENCE_MAX_MINUTES)]
