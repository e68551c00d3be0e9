"""Order problem rules: pure functions of an order's state and the clock (no I/O).

Conventions shared by every rule:

- **Inclusive thresholds.** A rule fires at exactly its threshold (`now >= deadline`,
  predicted lateness `>= minutes`), so a sweep that runs at `next_check_at` sees the change.
- **Quiet when it cannot judge.** Per-order rules never fire for a terminal order (delivered,
  cancelled, rejected) nor before `order.created` has arrived (no city, promise or venue yet).
- **`since`** is the instant the condition became true (for a timer: its deadline), so
  detection lag = detected_at - since. None when not firing.
- **`next_check_at`** is the earliest instant after `now` at which `firing`, `holding` or
  `severity` can change with no new event; None when only an event can change them. It is
  exact for the per-order rules (something does change then); for venue_struggling it is the
  next ageing-out of a counted failure, which may change nothing. Phase 2 stores it as the
  due time of the (order, rule) timer and re-evaluates then; `details` (minutes waiting...)
  are a snapshot and do not schedule checks.
- **Hysteresis.** `firing` uses the raise threshold, `holding` a looser clear threshold
  (`holding` is true whenever `firing` is). A problem opens when firing, stays open while
  holding, and resolves when not holding: `still_open(was_open, verdict)`. Rules whose
  condition is cleared only by events that cannot be undone (acceptance, authorization,
  pickup, substitution) have holding == firing; the measured ones get a band:
  running_late (`clear_minutes` < `minutes`), courier_stuck (`clear_radius_m` > `radius_m`)
  and venue_struggling (`hold_failures` <= `failures`, `hold_open_orders` <= `open_orders`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from domain.geo import point_distance_m
from domain.order_checks.projection import Fact, ItemStatus, OrderState, Sample, Stage
from domain.order_checks.thresholds import (
    RulesConfig,
    StageMinutes,
    Thresholds,
    VenueStrugglingThresholds,
)

# The rules file API, reachable from here too (it lives in domain.order_checks.thresholds).
from domain.order_checks.thresholds import RulesError as RulesError
from domain.order_checks.thresholds import load_rules as load_rules
from domain.order_checks.thresholds import parse_rules as parse_rules

VENUE_NOT_ACCEPTING = "venue_not_accepting"
PAYMENT_PENDING = "payment_pending"
NO_COURIER = "no_courier"
STUCK_AT_VENUE = "stuck_at_venue"
COURIER_STUCK = "courier_stuck"
RUNNING_LATE = "running_late"
ITEMS_UNAVAILABLE = "items_unavailable"
VENUE_STRUGGLING = "venue_struggling"

Severity = Literal["warning", "critical"]

# ---------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class Verdict:
    """One rule's judgement of one order (or venue) at one instant."""

    rule: str
    firing: bool
    holding: bool = False  # still true under the clear threshold (see module docstring)
    since: datetime | None = None
    next_check_at: datetime | None = None
    severity: Severity = "warning"
    details: Mapping[str, Any] = field(default_factory=dict)  # JSON-ready, for support agents
    muted: bool = False  # inhibited by an open cause (`Rule.mutes`)
    muted_by: tuple[str, ...] = ()  # the open causes that mute it (rule names)


def still_open(was_open: bool, verdict: Verdict) -> bool:
    """Hysteresis: open on firing, stay open while holding, resolve when not holding."""
    return verdict.firing or (was_open and verdict.holding)


def _quiet(rule: str, next_check_at: datetime | None = None, **details: Any) -> Verdict:
    return Verdict(rule, firing=False, next_check_at=next_check_at, details=details)


def _timer(rule: str, start: datetime, minutes: float, now: datetime, **details: Any) -> Verdict:
    """A check that fires when nothing happened for `minutes` after `start` (inclusive)."""
    deadline = start + timedelta(minutes=minutes)
    facts = {"since_start_minutes": _minutes(now - start), "threshold_minutes": minutes, **details}
    if now < deadline:
        return _quiet(rule, next_check_at=deadline, **facts)
    overdue = {"overdue_minutes": _minutes(now - deadline)}
    return Verdict(rule, True, True, since=deadline, details={**facts, **overdue})


def _minutes(delta: timedelta) -> float:
    return round(delta.total_seconds() / 60, 1)


def _iso(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant else None


def _active(state: OrderState) -> bool:
    return state.known and not state.terminal


def _future(now: datetime, *instants: datetime | None) -> datetime | None:
    """The earliest of `instants` strictly after `now`."""
    return min((t for t in instants if t is not None and t > now), default=None)


def paid_at(state: OrderState, thresholds: Thresholds) -> datetime | None:
    """When the order counts as paid: authorization, or creation for pay-on-delivery."""
    if state.authorized is not None:
        return state.authorized.at
    placed = state.placed
    if placed and placed.payment_method in thresholds.pay_on_delivery_methods:
        return placed.fact.at
    return None


# ---------------------------------------------------------------- per-order rules


def venue_not_accepting(state: OrderState, now: datetime, thresholds: Thresholds) -> Verdict:
    """Paid, and the venue has neither accepted nor rejected within N minutes."""
    start = paid_at(state, thresholds) if _active(state) else None
    if start is None or state.reached(Stage.ACCEPTED):
        return _quiet(VENUE_NOT_ACCEPTING)
    minutes = thresholds.venue_not_accepting.minutes
    return _timer(VENUE_NOT_ACCEPTING, start, minutes, now, paid_at=_iso(start))


def payment_pending(state: OrderState, now: datetime, thresholds: Thresholds) -> Verdict:
    """Created (and not pay-on-delivery), with no payment.authorized within N minutes; a
    payment.failed does not stop the clock (the user may retry), it is shown in details."""
    placed = state.placed
    if placed is None or not _active(state) or paid_at(state, thresholds) is not None:
        return _quiet(PAYMENT_PENDING)
    failure = state.payment_failure
    return _timer(
        PAYMENT_PENDING,
        placed.fact.at,
        thresholds.payment_pending.minutes,
        now,
        payment_method=placed.payment_method,
        last_failure_at=_iso(failure.fact.at) if failure else None,
        last_failure_reason=failure.reason if failure else None,
    )


def no_courier(state: OrderState, now: datetime, thresholds: Thresholds) -> Verdict:
    """Accepted, the ready time near (lead_minutes) or passed, and no courier assigned.

    Warning from `ready - lead_minutes`, critical once the ready time has passed (the
    earlier of the venue's latest estimate and the actual order.ready).
    """
    if not _active(state) or not state.reached(Stage.ACCEPTED) or state.reached(Stage.PICKED_UP):
        return _quiet(NO_COURIER)
    if state.courier_id is not None:
        return _quiet(NO_COURIER, courier_id=state.courier_id)
    ready_at = _ready_at(state)
    if ready_at is None:
        return _quiet(NO_COURIER)
    due = ready_at - timedelta(minutes=thresholds.no_courier.lead_minutes)
    if state.ready is not None:
        due = min(due, state.ready.at)  # actually ready: no lead, it is due now
    if now < due:
        return _quiet(NO_COURIER, next_check_at=due, ready_at=_iso(ready_at))
    return _no_courier_firing(state, now, due, ready_at)


def _ready_at(state: OrderState) -> datetime | None:
    """The earlier of the venue's latest estimate and the actual order.ready."""
    known = [state.ready_estimate.ready_at] if state.ready_estimate else []
    known += [state.ready.at] if state.ready else []
    return min(known, default=None)


def _no_courier_firing(
    state: OrderState, now: datetime, due: datetime, ready_at: datetime
) -> Verdict:
    unassigned = state.assignment.fact.at if state.assignment else None
    severity: Severity = "critical" if now >= ready_at else "warning"
    details = {
        "ready_at": _iso(ready_at),
        "order_ready": state.ready is not None,
        "unassigned_at": _iso(unassigned),
        "minutes_to_ready": _minutes(ready_at - now),
    }
    since = max(due, unassigned) if unassigned else due
    return Verdict(NO_COURIER, True, True, since, _future(now, ready_at), severity, details)


def stuck_at_venue(state: OrderState, now: datetime, thresholds: Thresholds) -> Verdict:
    """The current courier arrived at the venue and has not picked up within N minutes."""
    arrival = state.courier_at_venue
    if not _active(state) or arrival is None or state.reached(Stage.PICKED_UP):
        return _quiet(STUCK_AT_VENUE)
    return _timer(
        STUCK_AT_VENUE,
        arrival.fact.at,
        thresholds.stuck_at_venue.minutes,
        now,
        courier_id=arrival.courier_id or state.courier_id,
        order_ready=state.ready is not None,
    )


def courier_stuck(state: OrderState, now: datetime, thresholds: Thresholds) -> Verdict:
    """Picked up, and the courier has stayed within radius_m of its latest position for N
    minutes (counted from the pickup at the earliest). Needs a sample taken after pickup;
    with no new sample the courier is assumed to still be where it was last seen."""
    picked = state.picked_up
    track = _carrier_track(state)
    if not _active(state) or picked is None or not track or track[-1].key <= picked.key:
        return _quiet(COURIER_STUCK)
    limits = thresholds.courier_stuck
    still_since = _still_since(track, limits.radius_m, picked)
    fire_at = still_since + timedelta(minutes=limits.minutes)
    hold_at = _still_since(track, limits.clear_radius_m, picked) + timedelta(minutes=limits.minutes)
    firing = now >= fire_at
    return Verdict(
        COURIER_STUCK,
        firing,
        now >= hold_at,
        since=fire_at if firing else None,
        next_check_at=_future(now, fire_at, hold_at),
        details=_stuck_details(state, track[-1], still_since, now, limits.radius_m),
    )


def _stuck_details(
    state: OrderState, last: Sample, still_since: datetime, now: datetime, radius_m: float
) -> dict[str, Any]:
    return {
        "courier_id": state.courier_id,
        "lat": last.lat,
        "lon": last.lon,
        "last_sample_at": _iso(last.fact.at),
        "still_since": _iso(still_since),
        "still_minutes": _minutes(now - still_since),
        "radius_m": radius_m,
    }


def _carrier_track(state: OrderState) -> tuple[Sample, ...]:
    """Samples of the current courier (samples naming no courier are assumed to be theirs)."""
    courier = state.courier_id
    return tuple(s for s in state.track if s.courier_id in (None, courier) or courier is None)


def _still_since(track: Sequence[Sample], radius_m: float, picked: Fact) -> datetime:
    """Since when the courier has stayed within `radius_m` of its latest sample (bounded by
    the kept track), but never before the pickup."""
    anchor = track[-1]
    since = anchor.fact.at
    for sample in reversed(track[:-1]):
        if point_distance_m(sample.lat, sample.lon, anchor.lat, anchor.lon) > radius_m:
            break
        since = sample.fact.at
    return max(since, picked.at)


def items_unavailable(state: OrderState, now: datetime, thresholds: Thresholds) -> Verdict:
    """An item has been unavailable for N minutes with no substitution (cancellation ends
    the order, so it ends the check too)."""
    pending = state.pending_items
    if not _active(state) or not pending:
        return _quiet(ITEMS_UNAVAILABLE)
    limit = timedelta(minutes=thresholds.items_unavailable.minutes)
    first_due = min(item.fact.at for item in pending) + limit
    if now < first_due:
        return _quiet(ITEMS_UNAVAILABLE, next_check_at=first_due)
    overdue = [_item_details(item, now) for item in pending if item.fact.at + limit <= now]
    details = {"items": overdue, "threshold_minutes": thresholds.items_unavailable.minutes}
    return Verdict(ITEMS_UNAVAILABLE, True, True, since=first_due, details=details)


def _item_details(item: ItemStatus, now: datetime) -> dict[str, Any]:
    return {
        "item_id": item.item_id,
        "unavailable_at": _iso(item.fact.at),
        "waiting_minutes": _minutes(now - item.fact.at),
    }


# ---------------------------------------------------------------- running_late

_DISTANT_PAST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Eta:
    """A predicted instant `max(fixed, now + offset)` (offset None: the clock does not move it).

    A stage that has not ended ends at its typical time or, once that is past, no earlier
    than now. Built without reading the clock, so the instant at which the clock alone
    pushes the prediction past a target is exact (`crossing`): that is `next_check_at`.
    """

    fixed: datetime
    offset: timedelta | None = None

    def plus(self, minutes: float) -> Eta:
        step = timedelta(minutes=minutes)
        return Eta(self.fixed + step, None if self.offset is None else self.offset + step)

    def join(self, other: Eta) -> Eta:
        """The later of two instants (a stage that waits for both)."""
        offsets = [o for o in (self.offset, other.offset) if o is not None]
        return Eta(max(self.fixed, other.fixed), max(offsets, default=None))

    def not_before_now(self) -> Eta:
        return self.join(_NOW)

    def at(self, now: datetime) -> datetime:
        return self.fixed if self.offset is None else max(self.fixed, now + self.offset)

    def crossing(self, target: datetime) -> datetime | None:
        """The earliest clock instant from which `at(now) >= target`: the distant past when
        the facts alone get there, None when the clock alone never does."""
        if self.fixed >= target:
            return _DISTANT_PAST
        return None if self.offset is None else target - self.offset


_NOW = Eta(_DISTANT_PAST, timedelta(0))


def predict_delivery(state: OrderState, thresholds: Thresholds) -> Eta:
    """When the order will be delivered, judged from its current stage: stages that ended use
    their real time, the running one the venue's estimate or its typical duration, later ones
    their typical durations (`running_late.stage_minutes`). Needs order.created."""
    stages = thresholds.running_late.stage_minutes
    if state.picked_up is not None:
        return Eta(state.picked_up.at).plus(stages.travel).not_before_now()
    ready = _ready_eta(state, thresholds)
    pickup = ready.join(_courier_eta(state, stages)).plus(stages.handover).not_before_now()
    return pickup.plus(stages.travel)


def _ready_eta(state: OrderState, thresholds: Thresholds) -> Eta:
    if state.ready is not None:
        return Eta(state.ready.at)
    if state.ready_estimate is not None:
        return Eta(state.ready_estimate.ready_at).not_before_now()
    prepare = thresholds.running_late.stage_minutes.prepare
    return _accepted_eta(state, thresholds).plus(prepare).not_before_now()


def _accepted_eta(state: OrderState, thresholds: Thresholds) -> Eta:
    if state.accepted is not None:
        return Eta(state.accepted.at)
    accept = thresholds.running_late.stage_minutes.accept
    return _paid_eta(state, thresholds).plus(accept).not_before_now()


def _paid_eta(state: OrderState, thresholds: Thresholds) -> Eta:
    paid = paid_at(state, thresholds)
    if paid is not None:
        return Eta(paid)
    assert state.placed is not None  # rules only predict for known orders
    payment = thresholds.running_late.stage_minutes.payment
    return Eta(state.placed.fact.at).plus(payment).not_before_now()


def _courier_eta(state: OrderState, stages: StageMinutes) -> Eta:
    if state.courier_at_venue is not None:
        return Eta(state.courier_at_venue.fact.at)
    if state.courier_id is not None and state.assignment is not None:
        return Eta(state.assignment.fact.at).plus(stages.courier_to_venue).not_before_now()
    return _NOW.plus(stages.courier_assign + stages.courier_to_venue)


def running_late(state: OrderState, now: datetime, thresholds: Thresholds) -> Verdict:
    """The predicted delivery misses promised_delivery_at by `minutes` or more (critical from
    `critical_minutes`); an open problem holds until the prediction is under `clear_minutes`."""
    if not _active(state):
        return _quiet(RUNNING_LATE)
    assert state.placed is not None
    limits, promised = thresholds.running_late, state.placed.promised_delivery_at
    eta = predict_delivery(state, thresholds)
    fire_at, hold_at, critical_at = (
        eta.crossing(promised + timedelta(minutes=m))
        for m in (limits.minutes, limits.clear_minutes, limits.critical_minutes)
    )
    firing = _reached(fire_at, now)
    since = max(fire_at, _prediction_facts_at(state)) if fire_at and firing else None
    return Verdict(
        RUNNING_LATE,
        firing,
        _reached(hold_at, now),
        since=since,
        next_check_at=_future(now, fire_at, hold_at, critical_at),
        severity="critical" if _reached(critical_at, now) else "warning",
        details=_late_details(state, eta.at(now), promised),
    )


def _prediction_facts_at(state: OrderState) -> datetime:
    """When the latest fact the prediction uses happened: a lateness that the facts alone
    explain has held since then (with what is known now)."""
    carried = (state.placed, state.ready_estimate, state.assignment, state.arrival)
    facts = [c.fact for c in carried if c is not None]
    facts += [f for f in (state.authorized, state.accepted, state.ready, state.picked_up) if f]
    return max(f.at for f in facts)


def _reached(instant: datetime | None, now: datetime) -> bool:
    return instant is not None and now >= instant


def _late_details(state: OrderState, predicted: datetime, promised: datetime) -> dict[str, Any]:
    return {
        "stage": state.stage.value,
        "promised_delivery_at": _iso(promised),
        "predicted_delivery_at": _iso(predicted),
        "late_minutes": _minutes(predicted - promised),
    }


# ---------------------------------------------------------------- venue level


@dataclass(frozen=True)
class VenueOutcome:
    """A venue's decision on one order: accepted (ok) or rejected / cancelled by the venue."""

    order_id: str
    at: datetime
    failed: bool


@dataclass(frozen=True)
class VenueActivity:
    """What a venue-level rule looks at: recent decisions (one per order, any order), and the
    venue's orders with a live record of each per-order rule the venue rules read
    (`Rule.reads`): rule -> order id -> its `since`."""

    venue_id: int
    outcomes: Sequence[VenueOutcome] = ()
    live_orders: Mapping[str, Mapping[str, datetime]] = field(default_factory=dict)

    def orders_with(self, rule: str) -> Mapping[str, datetime]:
        return self.live_orders.get(rule, {})


def venue_outcome(state: OrderState) -> VenueOutcome | None:
    """The venue's decision on this order, if it made one (user or system cancellations
    before acceptance are no decision of the venue's)."""
    failure = _venue_failure(state)
    if failure is not None:
        return VenueOutcome(state.order_id, failure.at, failed=True)
    accepted = state.accepted or state.ready or state.picked_up
    return VenueOutcome(state.order_id, accepted.at, failed=False) if accepted else None


def _venue_failure(state: OrderState) -> Fact | None:
    if state.rejected is not None:
        return state.rejected.fact
    cancelled = state.cancelled
    return cancelled.fact if cancelled is not None and cancelled.by == "venue" else None


def venue_struggling(venue: VenueActivity, now: datetime, thresholds: Thresholds) -> Verdict:
    """The venue rejected or cancelled `failures` of its last `window` decisions (within
    `max_age_minutes`), or has `open_orders` orders open on venue_not_accepting at once."""
    limits = thresholds.venue_struggling
    recent = _recent(venue.outcomes, now, limits)
    failures = sorted(o.at for o in recent if o.failed)
    waiting = sorted(venue.orders_with(VENUE_NOT_ACCEPTING).values())
    firing = len(failures) >= limits.failures or len(waiting) >= limits.open_orders
    holding = len(failures) >= limits.hold_failures or len(waiting) >= limits.hold_open_orders
    age = timedelta(minutes=limits.max_age_minutes)
    details = {
        "venue_id": venue.venue_id,
        "failed_orders": [o.order_id for o in recent if o.failed],
        "decisions": len(recent),
        "orders_waiting_for_acceptance": sorted(venue.orders_with(VENUE_NOT_ACCEPTING)),
    }
    return Verdict(
        VENUE_STRUGGLING,
        firing,
        holding,
        since=_struggling_since(failures, waiting, limits) if firing else None,
        next_check_at=_future(now, *(t + age for t in failures)) if holding else None,
        severity="critical",
        details=details,
    )


def _recent(
    outcomes: Iterable[VenueOutcome], now: datetime, limits: VenueStrugglingThresholds
) -> list[VenueOutcome]:
    """The last `window` decisions younger than max_age (one ages out at exactly max_age;
    one stamped a little after `now` by a producer's clock still counts)."""
    oldest = now - timedelta(minutes=limits.max_age_minutes)
    fresh = sorted((o for o in outcomes if o.at > oldest), key=lambda o: (o.at, o.order_id))
    return fresh[-limits.window :]


def _struggling_since(
    failures: list[datetime], waiting: list[datetime], limits: VenueStrugglingThresholds
) -> datetime:
    """When the condition first held with what is known now: the K-th failure or the n-th
    order left waiting, whichever came first."""
    candidates = []
    if len(failures) >= limits.failures:
        candidates.append(failures[limits.failures - 1])
    if len(waiting) >= limits.open_orders:
        candidates.append(waiting[limits.open_orders - 1])
    return min(candidates)


# ---------------------------------------------------------------- the rules table

OrderRule = Callable[[OrderState, datetime, Thresholds], Verdict]
VenueRule = Callable[[VenueActivity, datetime, Thresholds], Verdict]


@dataclass(frozen=True)
class Rule:
    """One rule, described once: the checks, the store, the simulator and the docs read it.

    - `level`: "order" rules judge one order's state; "venue" rules judge a venue's activity.
    - `mutes`: the per-order rules this rule is a cause of, inhibited while it is open
      (Alertmanager's inhibition: the records are kept, and marked muted): a venue rule mutes
      them on the venue's orders, a per-order rule on the same order (root cause first: an
      order the venue has not accepted is late *because* of that, one card, not two).
    - `reads`: for a venue rule, the per-order rules whose live records on the venue's orders
      are its input (`VenueActivity.live_orders`); opening or ending one of those makes the
      venue due for a check.
    - `lookback`: for a venue rule, how far back (minutes) the venue's decisions it counts go.
    """

    name: str
    level: Literal["order", "venue"]
    judge: Callable[[Any, datetime, Thresholds], Verdict]  # OrderRule or VenueRule, by level
    explanation: str
    mutes: frozenset[str] = frozenset()
    reads: frozenset[str] = frozenset()
    lookback: Callable[[Thresholds], float] | None = None


RULES: tuple[Rule, ...] = (
    Rule(
        VENUE_NOT_ACCEPTING,
        "order",
        venue_not_accepting,
        "The order is paid, and the venue has neither accepted nor rejected it in time.",
        mutes=frozenset({RUNNING_LATE}),
    ),
    Rule(
        PAYMENT_PENDING,
        "order",
        payment_pending,
        "The order was placed, and its payment has not been authorised in time.",
        mutes=frozenset({RUNNING_LATE}),
    ),
    Rule(
        NO_COURIER,
        "order",
        no_courier,
        "The food is (nearly) ready, and no courier is assigned to the order.",
    ),
    Rule(
        STUCK_AT_VENUE,
        "order",
        stuck_at_venue,
        "The courier arrived at the venue, and has not picked the order up in time.",
    ),
    Rule(
        COURIER_STUCK,
        "order",
        courier_stuck,
        "The courier picked the order up, and has not moved for several minutes.",
    ),
    Rule(
        RUNNING_LATE,
        "order",
        running_late,
        "The predicted delivery is later than what the user was promised.",
    ),
    Rule(
        ITEMS_UNAVAILABLE,
        "order",
        items_unavailable,
        "An item of the order is unavailable, and nothing was substituted in time.",
    ),
    Rule(
        VENUE_STRUGGLING,
        "venue",
        venue_struggling,
        "The venue rejects or cancels many orders, or leaves several waiting for acceptance.",
        mutes=frozenset({VENUE_NOT_ACCEPTING}),
        reads=frozenset({VENUE_NOT_ACCEPTING}),
        lookback=lambda thresholds: thresholds.venue_struggling.max_age_minutes,
    ),
)
BY_NAME: Mapping[str, Rule] = {rule.name: rule for rule in RULES}
ORDER_RULES: Mapping[str, OrderRule] = {r.name: r.judge for r in RULES if r.level == "order"}
VENUE_RULES: Mapping[str, Rule] = {r.name: r for r in RULES if r.level == "venue"}
# Cause -> the per-order rules it mutes while open (on the venue's orders for a venue rule, on
# the same order for a per-order rule): one mechanism, both levels.
INHIBITS: Mapping[str, frozenset[str]] = {r.name: r.mutes for r in RULES if r.mutes}
VENUE_INHIBITS: Mapping[str, frozenset[str]] = {
    name: muted for name, muted in INHIBITS.items() if BY_NAME[name].level == "venue"
}
ORDER_CAUSES: frozenset[str] = frozenset(n for n in INHIBITS if BY_NAME[n].level == "order")
# Per-order rules whose records venue-level rules read.
VENUE_INPUTS: frozenset[str] = frozenset().union(*(r.reads for r in VENUE_RULES.values()))


def lookback_minutes(config: RulesConfig) -> float:
    """How far back any venue rule looks at decisions, in any city."""
    every = (config.defaults, *config.cities.values())
    return max(
        (r.lookback(t) for r in VENUE_RULES.values() if r.lookback for t in every), default=0.0
    )


def _check_table(table: Sequence[Rule] = RULES) -> None:
    """Names known; causes mute only other per-order rules, and no symptom is a cause itself
    on the same order (so one judgement decides inhibition in one pass)."""
    by_name = {rule.name: rule for rule in table}
    for rule in table:
        unknown = (rule.mutes | rule.reads) - set(by_name)
        if unknown or (rule.level == "order" and (rule.reads or rule.lookback)):
            raise ValueError(f"rule {rule.name}: bad mutes/reads/lookback {sorted(unknown)}")
        if any(by_name[m].level != "order" or m == rule.name for m in rule.mutes):
            raise ValueError(f"rule {rule.name}: mutes only other per-order rules")
        if rule.level == "order" and any(by_name[m].mutes for m in rule.mutes):
            raise ValueError(f"rule {rule.name}: a symptom it mutes is a cause itself")


_check_table()


# ---------------------------------------------------------------- inhibition and evaluation


def causes_of(rule: str, open_causes: AbstractSet[str]) -> tuple[str, ...]:
    """The open causes (venue-level rules open on the order's venue, per-order rules open on
    the order) that mute `rule`, sorted."""
    if not open_causes:
        return ()
    return tuple(sorted(c for c in open_causes if rule in INHIBITS.get(c, ())))


def is_muted(rule: str, open_causes: AbstractSet[str]) -> bool:
    """Whether an order's `rule` is muted by these open causes."""
    return bool(causes_of(rule, open_causes))


def inhibit(verdicts: Iterable[Verdict], open_causes: AbstractSet[str]) -> tuple[Verdict, ...]:
    """The verdicts of one order, those muted by an open cause marked `muted` (`muted_by`).

    A muted problem is still opened, kept and resolved as usual (so it still counts towards
    venue_struggling); it is only not notified: the inbox shows it under its cause."""
    marked = []
    for verdict in verdicts:
        causes = causes_of(verdict.rule, open_causes)
        marked.append(replace(verdict, muted=True, muted_by=causes) if causes else verdict)
    return tuple(marked)


def evaluate(state: OrderState, now: datetime, config: RulesConfig) -> tuple[Verdict, ...]:
    """Every per-order rule, with the thresholds of the order's city."""
    thresholds = config.for_city(state.city_id)
    return tuple(rule(state, now, thresholds) for rule in ORDER_RULES.values())


def evaluate_venue(
    activity: VenueActivity, now: datetime, thresholds: Thresholds
) -> tuple[Verdict, ...]:
    """Every venue-level rule, with the thresholds of the venue's city."""
    return tuple(rule.judge(activity, now, thresholds) for rule in VENUE_RULES.values())


def next_check(verdicts: Iterable[Verdict]) -> datetime | None:
    """The earliest `next_check_at` (for one timer per order instead of one per rule)."""
    return min((v.next_check_at for v in verdicts if v.next_check_at), default=None)
