"""The state of one order as a projection of its lifecycle events (pure, no I/O).

Why any arrival order gives the same state: every field is merged with a join that is
commutative, associative and idempotent, keyed by the producer's per-order `sequence`:

- milestones (created, authorized, accepted, ready, picked up, delivered, rejected, cancelled)
  keep their *earliest* fact: a repeat or a late copy changes nothing;
- registers (courier assignment, courier arrival, latest ready estimate, latest payment
  failure, each item's unavailable/substituted status) keep their *latest* fact: the highest
  sequence wins whatever order the events came in;
- the courier location track keeps the `TRACK_LIMIT` highest-sequence samples.

Registers also keep their *history* (every value, by sequence: `ready_estimates`,
`assignments`, `arrivals`, `payment_failures`, `item_history`), so that `as_of(state, t)` is
the state with only the events that happened by `t`: the rules judge an order exactly as of
any instant, even once later events are known (a backlog drained, a batch taken late).

So `apply(apply(s, e), e) == apply(s, e)`, any permutation of a set of events folds to the
same state, and the stage (derived from the milestones present, which are never removed)
never moves back: a late `venue.accepted` after `order.picked_up` is recorded as the
acceptance fact, but the order stays picked up. Events of an order whose `order.created` has
not arrived are kept; the state is complete (`known`) once it arrives.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import Any, Protocol, TypeVar

from pydantic import TypeAdapter

from schemas.order_checks import (
    CancelledBy,
    CourierArrivedAtVenue,
    CourierAssigned,
    CourierLocation,
    CourierUnassigned,
    ItemSubstituted,
    ItemUnavailable,
    LifecycleEvent,
    OrderCancelled,
    OrderCreated,
    OrderDelivered,
    OrderPickedUp,
    OrderReady,
    PaymentAuthorized,
    PaymentFailed,
    VenueAccepted,
    VenueRejected,
)

# Enough for the courier_stuck check: 30 minutes of samples at one every 15 s.
TRACK_LIMIT = 120


class Stage(StrEnum):
    UNKNOWN = "unknown"  # no progress event known yet (e.g. only courier locations)
    CREATED = "created"
    PAID = "paid"
    ACCEPTED = "accepted"
    READY = "ready"
    PICKED_UP = "picked_up"
    DELIVERED = "delivered"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


PROGRESS: tuple[Stage, ...] = (
    Stage.UNKNOWN,
    Stage.CREATED,
    Stage.PAID,
    Stage.ACCEPTED,
    Stage.READY,
    Stage.PICKED_UP,
)

Key = tuple[int, datetime, str]


@dataclass(frozen=True)
class Fact:
    """Where one event sits: when it happened, its per-order sequence and its id."""

    at: datetime
    sequence: int
    event_id: str

    @property
    def key(self) -> Key:
        """Total order of facts: the producer's sequence first, then time, then id."""
        return (self.sequence, self.at, self.event_id)


@dataclass(frozen=True)
class _Carried:
    """A fact plus what its event carried."""

    fact: Fact

    @property
    def key(self) -> Key:
        return self.fact.key


@dataclass(frozen=True)
class Line:
    item_id: int
    quantity: int


@dataclass(frozen=True)
class Placed(_Carried):
    """What order.created says."""

    user_id: int
    venue_id: int
    city_id: int
    items: tuple[Line, ...]
    total: int
    payment_method: str
    promised_delivery_at: datetime


@dataclass(frozen=True)
class PaymentFailure(_Carried):
    reason: str | None


@dataclass(frozen=True)
class ReadyEstimate(_Carried):
    ready_at: datetime


@dataclass(frozen=True)
class Rejection(_Carried):
    reason: str


@dataclass(frozen=True)
class Assignment(_Carried):
    """The latest courier.assigned / courier.unassigned; courier_id None = no courier."""

    courier_id: int | None


@dataclass(frozen=True)
class Arrival(_Carried):
    courier_id: int | None


@dataclass(frozen=True)
class Sample(_Carried):
    lat: float
    lon: float
    courier_id: int | None


@dataclass(frozen=True)
class Cancellation(_Carried):
    by: CancelledBy
    reason: str


@dataclass(frozen=True)
class ItemStatus(_Carried):
    """The latest status of one item: unavailable (pending) or substituted (resolved)."""

    item_id: int
    substituted: bool
    substitute_item_id: int | None = None


class _Keyed(Protocol):
    @property
    def key(self) -> Key: ...


K = TypeVar("K", bound=_Keyed)


def earliest(current: K | None, new: K) -> K:
    return new if current is None or new.key < current.key else current


def latest(current: K | None, new: K) -> K:
    return new if current is None or new.key > current.key else current


@dataclass(frozen=True)
class OrderState:
    """Everything the rules need about one order; build it with `apply` / `fold`."""

    order_id: str
    placed: Placed | None = None
    authorized: Fact | None = None
    payment_failure: PaymentFailure | None = None
    accepted: Fact | None = None
    ready_estimate: ReadyEstimate | None = None
    rejected: Rejection | None = None
    ready: Fact | None = None
    assignment: Assignment | None = None
    arrival: Arrival | None = None
    picked_up: Fact | None = None
    delivered: Fact | None = None
    cancelled: Cancellation | None = None
    items: tuple[ItemStatus, ...] = ()  # one per item id, sorted by item id
    track: tuple[Sample, ...] = ()  # the most recent samples, by sequence
    last_sequence: int = -1
    # The registers' history, by key (states written before it was kept have none: `as_of`
    # then falls back on the latest value), and the newest event's time.
    ready_estimates: tuple[ReadyEstimate, ...] = ()
    assignments: tuple[Assignment, ...] = ()
    arrivals: tuple[Arrival, ...] = ()
    payment_failures: tuple[PaymentFailure, ...] = ()
    item_history: tuple[ItemStatus, ...] = ()
    newest_at: datetime | None = None

    @property
    def known(self) -> bool:
        """Whether order.created has arrived (before it, rules cannot judge the order)."""
        return self.placed is not None

    @property
    def venue_id(self) -> int | None:
        return self.placed.venue_id if self.placed else None

    @property
    def city_id(self) -> int | None:
        return self.placed.city_id if self.placed else None

    @cached_property  # states are immutable; the rules ask for these many times
    def outcome(self) -> Stage | None:
        """The terminal stage, if any: of several terminal events the highest sequence wins."""
        ends = [(f.key, s) for s, f in self._ends() if f is not None]
        return max(ends)[1] if ends else None

    @property
    def terminal(self) -> bool:
        return self.outcome is not None

    @cached_property
    def progress(self) -> Stage:
        """The most advanced non-terminal milestone reached."""
        for stage, fact in reversed(self._milestones()):
            if fact is not None:
                return stage
        return Stage.UNKNOWN

    @property
    def stage(self) -> Stage:
        return self.outcome or self.progress

    def reached(self, stage: Stage) -> bool:
        """Whether the order got at least as far as `stage` on the progress line."""
        return PROGRESS.index(self.progress) >= PROGRESS.index(stage)

    @property
    def courier_id(self) -> int | None:
        return self.assignment.courier_id if self.assignment else None

    @property
    def courier_at_venue(self) -> Arrival | None:
        """The current courier's arrival; an (un)assignment after it makes it stale."""
        arrival, assignment = self.arrival, self.assignment
        if arrival is None or (assignment is not None and assignment.key > arrival.key):
            return None
        return arrival

    @property
    def pending_items(self) -> tuple[ItemStatus, ...]:
        return tuple(item for item in self.items if not item.substituted)

    @cached_property
    def event_times(self) -> tuple[datetime, ...]:
        """When its events happened, location samples aside, in order (`event_times`)."""
        return _times(self, samples=False)

    def _milestones(self) -> tuple[tuple[Stage, Fact | None], ...]:
        placed = self.placed.fact if self.placed else None
        return (
            (Stage.CREATED, placed),
            (Stage.PAID, self.authorized),
            (Stage.ACCEPTED, self.accepted),
            (Stage.READY, self.ready),
            (Stage.PICKED_UP, self.picked_up),
        )

    def _ends(self) -> tuple[tuple[Stage, Fact | None], ...]:
        rejected = self.rejected.fact if self.rejected else None
        cancelled = self.cancelled.fact if self.cancelled else None
        return (
            (Stage.DELIVERED, self.delivered),
            (Stage.REJECTED, rejected),
            (Stage.CANCELLED, cancelled),
        )


def apply(state: OrderState | None, event: LifecycleEvent) -> OrderState:
    """The state after `event`; `None` starts a new order (whatever the event's type)."""
    current = state if state is not None else OrderState(order_id=event.order_id)
    if current.order_id != event.order_id:
        raise ValueError(f"event for order {event.order_id!r} applied to {current.order_id!r}")
    fact = Fact(event.occurred_at, event.sequence, event.event_id)
    changes = _HANDLERS[type(event)](current, event, fact)
    newest = event.occurred_at if current.newest_at is None else max(current.newest_at, fact.at)
    return replace(
        current,
        **changes,
        last_sequence=max(current.last_sequence, event.sequence),
        newest_at=newest,
    )


def fold(events: Iterable[LifecycleEvent], state: OrderState | None = None) -> OrderState:
    """Apply events in the order given (any order gives the same result)."""
    for event in events:
        state = apply(state, event)
    if state is None:
        raise ValueError("fold needs at least one event or a state")
    return state


def is_late(state: OrderState | None, event: LifecycleEvent) -> bool:
    """Whether `event` is older than what is already known (for metrics and logs)."""
    return state is not None and event.sequence < state.last_sequence


Handler = Callable[[OrderState, Any, Fact], dict[str, Any]]  # the fields it changes


def _on_created(state: OrderState, event: OrderCreated, fact: Fact) -> dict[str, Any]:
    lines = tuple(Line(line.item_id, line.quantity) for line in event.items)
    placed = Placed(
        fact,
        user_id=event.user_id,
        venue_id=event.venue_id,
        city_id=event.city_id,
        items=lines,
        total=event.total,
        payment_method=event.payment_method,
        promised_delivery_at=event.promised_delivery_at,
    )
    return dict(placed=earliest(state.placed, placed))


def _milestone(name: str) -> Handler:
    def handle(state: OrderState, _event: Any, fact: Fact) -> dict[str, Any]:
        return {name: earliest(getattr(state, name), fact)}

    return handle


def remember(history: tuple[K, ...], value: K) -> tuple[K, ...]:
    """A register's history with `value`, by key (idempotent)."""
    if not history or value.key > history[-1].key:
        return (*history, value)
    if any(kept.key == value.key for kept in history):
        return history
    return tuple(sorted((*history, value), key=lambda kept: kept.key))


def _on_payment_failed(state: OrderState, event: PaymentFailed, fact: Fact) -> dict[str, Any]:
    failure = PaymentFailure(fact, event.reason)
    return dict(
        payment_failure=latest(state.payment_failure, failure),
        payment_failures=remember(state.payment_failures, failure),
    )


def _on_accepted(state: OrderState, event: VenueAccepted, fact: Fact) -> dict[str, Any]:
    new = ReadyEstimate(fact, event.estimated_ready_at)
    return dict(
        accepted=earliest(state.accepted, fact),
        ready_estimate=latest(state.ready_estimate, new),
        ready_estimates=remember(state.ready_estimates, new),
    )


def _on_rejected(state: OrderState, event: VenueRejected, fact: Fact) -> dict[str, Any]:
    return dict(rejected=earliest(state.rejected, Rejection(fact, event.reason)))


def _assigned(state: OrderState, new: Assignment) -> dict[str, Any]:
    return dict(
        assignment=latest(state.assignment, new), assignments=remember(state.assignments, new)
    )


def _on_assigned(state: OrderState, event: CourierAssigned, fact: Fact) -> dict[str, Any]:
    return _assigned(state, Assignment(fact, event.courier_id))


def _on_unassigned(state: OrderState, _event: CourierUnassigned, fact: Fact) -> dict[str, Any]:
    return _assigned(state, Assignment(fact, None))


def _on_arrived(state: OrderState, event: CourierArrivedAtVenue, fact: Fact) -> dict[str, Any]:
    new = Arrival(fact, event.courier_id)
    return dict(arrival=latest(state.arrival, new), arrivals=remember(state.arrivals, new))


def _on_location(state: OrderState, event: CourierLocation, fact: Fact) -> dict[str, Any]:
    sample = Sample(fact, lat=event.lat, lon=event.lon, courier_id=event.courier_id)
    return dict(track=add_sample(state.track, sample))


def _on_cancelled(state: OrderState, event: OrderCancelled, fact: Fact) -> dict[str, Any]:
    cancellation = Cancellation(fact, by=event.by, reason=event.reason)
    return dict(cancelled=earliest(state.cancelled, cancellation))


def _on_unavailable(state: OrderState, event: ItemUnavailable, fact: Fact) -> dict[str, Any]:
    status = ItemStatus(fact, item_id=event.item_id, substituted=False)
    return dict(
        items=set_item(state.items, status), item_history=remember(state.item_history, status)
    )


def _on_substituted(state: OrderState, event: ItemSubstituted, fact: Fact) -> dict[str, Any]:
    status = ItemStatus(
        fact, item_id=event.item_id, substituted=True, substitute_item_id=event.substitute_item_id
    )
    return dict(
        items=set_item(state.items, status), item_history=remember(state.item_history, status)
    )


def add_sample(track: tuple[Sample, ...], sample: Sample) -> tuple[Sample, ...]:
    """The track with `sample`, keeping the TRACK_LIMIT highest-sequence samples."""
    if not track or sample.key > track[-1].key:  # the usual case: the newest sample
        return (*track, sample)[-TRACK_LIMIT:]
    if any(kept.key == sample.key for kept in track):
        return track
    merged = sorted((*track, sample), key=lambda kept: kept.key)
    return tuple(merged[-TRACK_LIMIT:])


def set_item(items: tuple[ItemStatus, ...], status: ItemStatus) -> tuple[ItemStatus, ...]:
    """`items` with the latest status of `status.item_id`."""
    current = next((item for item in items if item.item_id == status.item_id), None)
    others = [item for item in items if item.item_id != status.item_id]
    return tuple(sorted([*others, latest(current, status)], key=lambda item: item.item_id))


# ---------------------------------------------------------------- as of an instant


def as_of(state: OrderState, instant: datetime) -> OrderState:
    """The state with only the events that happened by `instant` (occurred_at <= instant): what
    the rules would have seen had they judged then. The courier track keeps its TRACK_LIMIT
    newest samples, so a view far behind the newest ones has fewer samples."""
    if state.newest_at is not None and state.newest_at <= instant:
        return state
    by: Callable[[_Keyed | None], Any] = lambda kept: _by(kept, instant)  # noqa: E731
    return replace(
        state,
        placed=by(state.placed),
        authorized=by(state.authorized),
        accepted=by(state.accepted),
        rejected=by(state.rejected),
        ready=by(state.ready),
        picked_up=by(state.picked_up),
        delivered=by(state.delivered),
        cancelled=by(state.cancelled),
        payment_failure=_latest_by(state.payment_failures, state.payment_failure, instant),
        ready_estimate=_latest_by(state.ready_estimates, state.ready_estimate, instant),
        assignment=_latest_by(state.assignments, state.assignment, instant),
        arrival=_latest_by(state.arrivals, state.arrival, instant),
        items=_items_by(state, instant),
        track=_track_by(state.track, instant),
        newest_at=instant,
    )


def _track_by(track: tuple[Sample, ...], instant: datetime) -> tuple[Sample, ...]:
    kept = [sample for sample in track if sample.fact.at <= instant]
    return track if len(kept) == len(track) else tuple(kept)


def _at(kept: Any) -> datetime:
    return kept.at if isinstance(kept, Fact) else kept.fact.at


def _by(kept: Any, instant: datetime) -> Any:
    return kept if kept is not None and _at(kept) <= instant else None


def _latest_by(history: tuple[K, ...], current: K | None, instant: datetime) -> K | None:
    """The register's latest value by `instant`, from its history (or its latest value, for a
    state stored before histories were kept)."""
    if not history:
        return _by(current, instant)
    known = [kept for kept in history if _at(kept) <= instant]
    return known[-1] if known else None


def _items_by(state: OrderState, instant: datetime) -> tuple[ItemStatus, ...]:
    if not state.item_history:
        return tuple(item for item in state.items if item.fact.at <= instant)
    items: tuple[ItemStatus, ...] = ()
    for status in state.item_history:
        if status.fact.at <= instant:
            items = set_item(items, status)
    return items


def event_times(
    state: OrderState, after: datetime, until: datetime, samples: bool = False
) -> list[datetime]:
    """The instants in (after, until] at which an event of the order happened, in order;
    location samples only with `samples` (they are most of an order's events, and the one
    rule that reads them, courier_stuck, names the instant its verdict can change next:
    judging at its timers sees what the samples did meanwhile)."""
    times = state.event_times if not samples else _times(state, samples=True)
    return list(times[bisect_right(times, after) : bisect_right(times, until)])


def _times(state: OrderState, samples: bool) -> tuple[datetime, ...]:
    facts: list[Any] = [
        state.placed,
        state.authorized,
        state.accepted,
        state.rejected,
        state.ready,
        state.picked_up,
        state.delivered,
        state.cancelled,
        *state.payment_failures,
        *state.ready_estimates,
        *state.assignments,
        *state.arrivals,
        *state.item_history,
        *(state.track if samples else ()),
    ]
    return tuple(sorted({_at(f) for f in facts if f is not None}))


_HANDLERS: dict[type, Handler] = {
    OrderCreated: _on_created,
    PaymentAuthorized: _milestone("authorized"),
    PaymentFailed: _on_payment_failed,
    VenueAccepted: _on_accepted,
    VenueRejected: _on_rejected,
    OrderReady: _milestone("ready"),
    CourierAssigned: _on_assigned,
    CourierUnassigned: _on_unassigned,
    CourierArrivedAtVenue: _on_arrived,
    OrderPickedUp: _milestone("picked_up"),
    CourierLocation: _on_location,
    OrderDelivered: _milestone("delivered"),
    OrderCancelled: _on_cancelled,
    ItemUnavailable: _on_unavailable,
    ItemSubstituted: _on_substituted,
}

_STATE = TypeAdapter(OrderState)


def dump_state(state: OrderState) -> dict[str, Any]:
    """JSON-ready form of a state (for a jsonb column); `load_state` reads it back."""
    return dict(_STATE.dump_python(state, mode="json"))


def load_state(data: Any) -> OrderState:
    return _STATE.validate_python(data)
