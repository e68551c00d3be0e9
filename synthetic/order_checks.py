"""Synthetic order lifecycles with injected faults, and how well the checks found them (pure).

`simulate(config, start)` builds the lifecycles of `config.orders` orders placed over
`window_minutes` from `start`: most are healthy, `fault_rate` of them carry one injected fault
of one rule's kind (the kinds take turns, so every rule is exercised). It returns every event
with the instant it is to be *delivered* (noise included) and the injected truth. `score`
compares the problem records the checks opened with that truth.

Healthy orders keep clear of every threshold of the default rules by at least two minutes,
with the noise (late deliveries of up to `max_late_s`, duplicates, GPS jitter, reassigned
couriers, failed-then-retried payments, substitutions, orders cancelled by their users); a
fault crosses its rule's threshold by at least a minute and a half and, by construction,
crosses no other rule's. The margins are what lets precision and recall be exact at the
default settings; what the generator assumes about the rules (default thresholds, the
running_late stage model) is spelled out where it matters.

Faults, per order unless said otherwise (times in minutes; c = creation, p = payment):
- venue_not_accepting: accepted at p + 6.5..9, or cancelled by the user then unaccepted;
- payment_pending: card authorized at c + 6.5..9 (after a failure), or cancelled by the system;
- no_courier: courier assigned 3 min before to 2 min after the estimated ready time;
- stuck_at_venue: picked up 11.5..13 min after the courier arrived;
- courier_stuck: the courier stops for 7..9 min during the ride;
- running_late: the kitchen pushes its estimate to accepted + 42..48, or the ride is slow
  enough to deliver after promise + 13 (promise = c + 45);
- items_unavailable: an item unavailable for 6.5..9 min, or never substituted;
- venue_struggling (a venue): it rejects 4 orders in a row, or leaves 3 orders waiting for
  acceptance at once (those 3 are venue_not_accepting faults too).

Cascades (a cause and the symptom it mutes, `Rule.mutes`, on one order; `CASCADES`): the
cause lasts long enough for the symptom to fire too, by at least a minute and a half, and the
symptom's record is expected *muted* under its cause (a secondary record, scored apart):
- venue_not_accepting > running_late: unaccepted until c + 25.5..28 (then accepted, or
  cancelled by the user); the prediction crosses promise + 10 at c + 23;
- payment_pending > running_late: unpaid until c + 22.5..25 (then authorized, or cancelled
  by the system); the prediction crosses promise + 10 at c + 20.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from domain.order_checks.rules import (
    BY_NAME,
    COURIER_STUCK,
    INHIBITS,
    ITEMS_UNAVAILABLE,
    NO_COURIER,
    PAYMENT_PENDING,
    RUNNING_LATE,
    STUCK_AT_VENUE,
    VENUE_NOT_ACCEPTING,
    VENUE_STRUGGLING,
)
from domain.order_checks.rules import RULES as TABLE

PROMISE_MINUTES = 45.0
M_PER_DEG_LAT = 111_320.0
CITY_CENTRES = ((60.17, 24.94), (59.33, 18.07), (52.52, 13.40), (48.14, 11.58), (41.39, 2.17))

Subject = str | int  # an order id, or a venue id for venue_struggling


@dataclass(frozen=True)
class SimulationConfig:
    orders: int = 1000
    fault_rate: float = 0.1
    seed: int = 7
    run: str = "sim"  # order ids are "<run>-<n>"
    venue_base: int = 9_000_000_000  # venue ids are venue_base + n
    venues: int | None = None  # default: one per 8 orders, at least 24
    cities: int = 3
    window_minutes: float = 20.0  # orders are placed over this span
    duplicate_rate: float = 0.03  # events delivered twice
    late_rate: float = 0.05  # events delivered late, after later ones
    max_late_s: float = 20.0
    cancel_rate: float = 0.03  # healthy orders cancelled by their user early on
    jitter_m: float = 6.0  # GPS noise (standard deviation, capped at 2.5x)
    sample_s: float = 30.0  # courier location every this many seconds during the ride

    def __post_init__(self) -> None:
        if self.orders < 1 or not 0 <= self.fault_rate <= 1:
            raise ValueError("need orders >= 1 and 0 <= fault_rate <= 1")


@dataclass(frozen=True)
class Delivery:
    """One event and the instant it reaches the broker (after its `occurred_at`)."""

    at: datetime
    event: dict[str, Any]


@dataclass(frozen=True)
class Fault:
    rule: str
    subject: Subject
    since: datetime  # when the injected problem became true (approximately, for some rules)
    muted_by: str | None = None  # a symptom: its record is expected muted under this cause


@dataclass
class Simulation:
    deliveries: list[Delivery]  # in delivery order
    faults: list[Fault]
    order_ids: list[str]
    venue_ids: list[int]
    ends_at: datetime  # the last delivery

    def expected(self) -> set[tuple[str, Subject]]:
        return {(f.rule, f.subject) for f in self.faults}

    @property
    def faulty_orders(self) -> set[str]:
        return {f.subject for f in self.faults if isinstance(f.subject, str)}


# ---------------------------------------------------------------- geometry


Point = tuple[float, float]


def _offset(point: Point, east_m: float, north_m: float) -> Point:
    lat, lon = point
    return (
        lat + north_m / M_PER_DEG_LAT,
        lon + east_m / (M_PER_DEG_LAT * math.cos(math.radians(lat))),
    )


def _towards(a: Point, b: Point, share: float) -> Point:
    return (a[0] + (b[0] - a[0]) * share, a[1] + (b[1] - a[1]) * share)


def _away(rng: random.Random, point: Point, low_m: float, high_m: float) -> Point:
    bearing, distance = rng.uniform(0, 2 * math.pi), rng.uniform(low_m, high_m)
    return _offset(point, distance * math.sin(bearing), distance * math.cos(bearing))


# ---------------------------------------------------------------- one order


@dataclass(frozen=True)
class Venue:
    venue_id: int
    city_id: int
    where: Point


@dataclass
class _Order:
    """Events of one order as they happen: (minute after `start`, type, fields)."""

    order_id: str
    start: datetime
    events: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)

    def add(self, minute: float, kind: str, **fields: Any) -> None:
        self.events.append((minute, kind, fields))

    def at(self, minute: float) -> datetime:
        return self.start + timedelta(minutes=minute)

    def cut(self, minute: float) -> None:
        """The order ended at `minute`: nothing after it happens."""
        self.events = [e for e in self.events if e[0] <= minute]

    def bodies(self) -> list[dict[str, Any]]:
        ordered = sorted(enumerate(self.events), key=lambda pair: (pair[1][0], pair[0]))
        return [
            {
                "type": kind,
                "schema_version": 1,
                "event_id": f"{self.order_id}:{sequence}",
                "order_id": self.order_id,
                "occurred_at": self.at(minute).isoformat(),
                "sequence": sequence,
                **fields,
            }
            for sequence, (_, (minute, kind, fields)) in enumerate(ordered, start=1)
        ]


@dataclass
class _Plan:
    """The timeline of one order (minutes after its creation); faults bend it."""

    cash: bool
    paid: float | None  # None: never authorized
    accepted: float | None
    prep: float
    courier_lead: float  # assigned this long before the estimated ready time
    reestimate: tuple[float, float] | None = None  # (at, new ready estimate)
    assigned: float | None = None
    arrival_offset: float = 0.0  # arrival at the venue, from the estimated ready time
    ready_offset: float = 0.0
    pickup_wait: float = 1.0  # after both the order is ready and the courier is there
    travel: float = 13.0
    stop: tuple[float, float] | None = None  # (minutes into the ride, how long)
    unavailable: tuple[float, float | None] | None = None  # (after acceptance, substitution)
    cancelled: tuple[float, str] | None = None
    rejected: float | None = None
    payment_failed: float | None = None
    reassigned: bool = False


class _Lifecycles:
    def __init__(self, config: SimulationConfig, start: datetime, rng: random.Random) -> None:
        self.config, self.start, self.rng = config, start, rng
        self.couriers = 0

    def healthy(self) -> _Plan:
        u = self.rng.uniform
        cash = self.rng.random() < 0.2
        paid = 0.0 if cash else u(0.1, 0.6)
        plan = _Plan(
            cash=cash,
            paid=paid,
            accepted=paid + u(0.5, 2.5),
            prep=u(10, 16),
            courier_lead=u(9, 13),
            arrival_offset=u(-3, 1),
            ready_offset=u(-2, 2),
            pickup_wait=u(0.5, 2),
            travel=u(10, 16),
        )
        if not cash and self.rng.random() < 0.03:
            plan.payment_failed, plan.paid = paid, paid + u(0.4, 0.8)
            plan.accepted = plan.paid + u(0.5, 2.5)
        if self.rng.random() < 0.10:
            plan.unavailable = (u(0.5, 3), u(0.5, 3))
        plan.reassigned = self.rng.random() < 0.03
        if self.rng.random() < self.config.cancel_rate:
            plan.cancelled = (u(0.5, 3), "user")
        return plan

    def build(self, order_id: str, venue: Venue, created: float, plan: _Plan) -> _Order:
        """The events of an order created `created` minutes after the start."""
        order = _Order(order_id, self.start + timedelta(minutes=created))
        customer = _away(self.rng, venue.where, 2000, 4000)
        self._opening(order, venue, plan)
        if plan.rejected is not None:
            order.add(plan.rejected, "venue.rejected", reason="too busy")
        elif plan.accepted is not None:
            self._kitchen_and_courier(order, venue, customer, plan)
        if plan.cancelled is not None:
            minute, by = plan.cancelled
            order.cut(minute)
            order.add(minute, "order.cancelled", by=by, reason="simulated")
        return order

    def _opening(self, order: _Order, venue: Venue, plan: _Plan) -> None:
        items = [{"item_id": 1000 + self.rng.randrange(50), "quantity": 1}]
        order.add(
            0.0,
            "order.created",
            user_id=1 + self.rng.randrange(10**6),
            venue_id=venue.venue_id,
            city_id=venue.city_id,
            items=items,
            total=1500 + self.rng.randrange(3000),
            payment_method="cash" if plan.cash else "card",
            promised_delivery_at=order.at(PROMISE_MINUTES).isoformat(),
        )
        if plan.payment_failed is not None:
            order.add(plan.payment_failed, "payment.failed", reason="insufficient funds")
        if not plan.cash and plan.paid is not None:
            order.add(plan.paid, "payment.authorized")

    def _kitchen_and_courier(
        self, order: _Order, venue: Venue, customer: Point, plan: _Plan
    ) -> None:
        assert plan.accepted is not None
        estimate = plan.accepted + plan.prep
        order.add(
            plan.accepted, "venue.accepted", estimated_ready_at=order.at(estimate).isoformat()
        )
        if plan.reestimate is not None:
            at, estimate = plan.reestimate
            order.add(at, "venue.accepted", estimated_ready_at=order.at(estimate).isoformat())
        if plan.unavailable is not None:
            self._substitution(order, plan.accepted, plan.unavailable)
        assigned = plan.assigned
        if assigned is None:
            floor = plan.reestimate[0] if plan.reestimate else plan.accepted
            assigned = max(floor + 0.5, estimate - plan.courier_lead)
        courier = self._assign(order, assigned, plan.reassigned)
        arrival = max(assigned + 2, estimate + plan.arrival_offset)
        ready = max(plan.accepted + 3, estimate + plan.ready_offset)
        start = _away(self.rng, venue.where, 800, 1500)
        self._ride_samples(order, start, venue.where, assigned, arrival, 60.0, courier)
        order.add(arrival, "courier.arrived_at_venue", courier_id=courier)
        order.add(ready, "order.ready")
        pickup = max(arrival, ready) + plan.pickup_wait
        order.add(pickup, "order.picked_up", courier_id=courier)
        delivered = self._ride(order, venue.where, customer, pickup, plan, courier)
        order.add(delivered, "order.delivered")

    def _substitution(
        self, order: _Order, accepted: float, timing: tuple[float, float | None]
    ) -> None:
        unavailable, after = timing
        item = order.events[0][2]["items"][0]["item_id"]
        order.add(accepted + unavailable, "item.unavailable", item_id=item)
        if after is not None:
            order.add(accepted + unavailable + after, "item.substituted", item_id=item)

    def _assign(self, order: _Order, at: float, reassigned: bool) -> int:
        self.couriers += 1
        courier = self.couriers
        order.add(at, "courier.assigned", courier_id=courier)
        if reassigned:  # dropped within a minute, another courier half a minute later
            dropped = at + self.rng.uniform(0.3, 0.8)
            order.add(dropped, "courier.unassigned", courier_id=courier, reason="vehicle")
            self.couriers += 1
            courier = self.couriers
            order.add(dropped + self.rng.uniform(0.3, 0.6), "courier.assigned", courier_id=courier)
        return courier

    def _ride(
        self,
        order: _Order,
        origin: Point,
        customer: Point,
        pickup: float,
        plan: _Plan,
        courier: int,
    ) -> float:
        """Samples from pickup to the door (with the fault's stop), then a short wait there;
        returns when the order is delivered."""
        dwell = self.rng.uniform(0.5, 1.5)
        step = self.config.sample_s
        moving = plan.travel - dwell - (plan.stop[1] if plan.stop else 0.0)
        if plan.stop is None:
            self._ride_samples(order, origin, customer, pickup, pickup + moving, step, courier)
        else:
            into, length = plan.stop
            share = into / moving
            halfway = _towards(origin, customer, share)
            self._ride_samples(order, origin, halfway, pickup, pickup + into, step, courier)
            self._stay(order, halfway, pickup + into, pickup + into + length, step, courier)
            resume = pickup + into + length
            rest = moving - into
            self._ride_samples(order, halfway, customer, resume, resume + rest, step, courier)
        arrived = pickup + plan.travel - dwell
        self._stay(order, customer, arrived, pickup + plan.travel, step, courier)
        return pickup + plan.travel

    def _ride_samples(
        self,
        order: _Order,
        a: Point,
        b: Point,
        t0: float,
        t1: float,
        every_s: float,
        courier: int,
    ) -> None:
        steps = max(1, int((t1 - t0) * 60 // every_s))
        for n in range(steps):
            share = n / steps
            self._sample(order, _towards(a, b, share), t0 + (t1 - t0) * share, courier)

    def _stay(
        self, order: _Order, where: Point, t0: float, t1: float, every_s: float, courier: int
    ) -> None:
        minute = t0
        while minute < t1:
            self._sample(order, where, minute, courier)
            minute += every_s / 60

    def _sample(self, order: _Order, where: Point, minute: float, courier: int) -> None:
        cap = 2.5 * self.config.jitter_m
        east, north = (
            max(-cap, min(cap, self.rng.gauss(0, self.config.jitter_m))) for _ in range(2)
        )
        lat, lon = _offset(where, east, north)
        order.add(
            minute, "courier.location", lat=round(lat, 6), lon=round(lon, 6), courier_id=courier
        )


# ---------------------------------------------------------------- faults


Injector = Callable[[_Plan, random.Random], float]


def _inject(rule: str, plan: _Plan, rng: random.Random) -> float:
    """Bend a healthy plan so `rule` fires; returns when it becomes true (minutes)."""
    plan.cancelled, plan.reassigned = None, False
    assert plan.accepted is not None and plan.paid is not None
    return INJECTORS[rule](plan, rng)


def _not_accepting(plan: _Plan, rng: random.Random) -> float:
    assert plan.paid is not None
    if rng.random() < 0.3:
        plan.accepted, plan.cancelled = None, (plan.paid + rng.uniform(6.5, 9), "user")
    else:
        plan.accepted = plan.paid + rng.uniform(6.5, 9)
    return plan.paid + 5


def _payment_pending(plan: _Plan, rng: random.Random) -> float:
    u = rng.uniform
    plan.cash, plan.payment_failed = False, u(0.3, 1.0)
    if rng.random() < 0.3:
        plan.paid, plan.accepted = None, None
        plan.cancelled = (u(6.5, 9), "system")
    else:
        plan.paid = u(6.5, 9)
        plan.accepted = plan.paid + u(0.5, 2.5)
    return 5.0


def _estimate(plan: _Plan) -> float:
    assert plan.accepted is not None
    return plan.accepted + plan.prep


def _no_courier(plan: _Plan, rng: random.Random) -> float:
    estimate = _estimate(plan)
    assert plan.accepted is not None
    plan.assigned = max(plan.accepted + 0.5, estimate + rng.uniform(-3, 2))
    return min(estimate - 5, estimate + plan.ready_offset)


def _stuck_at_venue(plan: _Plan, rng: random.Random) -> float:
    u = rng.uniform
    plan.arrival_offset, plan.ready_offset = u(-1, 1), u(-1, 0)
    plan.pickup_wait = u(11.5, 13) - max(0.0, plan.ready_offset - plan.arrival_offset)
    return _estimate(plan) + plan.arrival_offset + 10


def _courier_stuck(plan: _Plan, rng: random.Random) -> float:
    plan.stop = (rng.uniform(2, 5), rng.uniform(7, 9))
    plan.travel += plan.stop[1]
    pickup = _estimate(plan) + max(plan.arrival_offset, plan.ready_offset) + plan.pickup_wait
    return pickup + plan.stop[0] + 5


def _running_late(plan: _Plan, rng: random.Random) -> float:
    u = rng.uniform
    assert plan.accepted is not None
    if rng.random() < 0.5:  # the kitchen runs late: a new estimate, far past the promise
        at = plan.accepted + u(0.5, 1.0)
        plan.reestimate = (at, plan.accepted + u(42, 48))
        return at
    pickup = _estimate(plan) + max(plan.arrival_offset, plan.ready_offset) + plan.pickup_wait
    plan.travel = max(u(38, 44), PROMISE_MINUTES + 13 - pickup)
    return PROMISE_MINUTES + 10


def _items_unavailable(plan: _Plan, rng: random.Random) -> float:
    assert plan.accepted is not None
    unavailable = rng.uniform(1, 3)
    plan.unavailable = (unavailable, None if rng.random() < 0.3 else rng.uniform(6.5, 9))
    return plan.accepted + unavailable + 5


# How to make each per-order rule of the rules table fire in one order. The rules the
# simulator injects are the table's (`domain.order_checks.rules.RULES`, in its order); a
# venue rule is a scenario of several orders (`_struggling_venue`). A rule with neither is
# reported as not simulated.
INJECTORS: dict[str, Injector] = {
    VENUE_NOT_ACCEPTING: _not_accepting,
    PAYMENT_PENDING: _payment_pending,
    NO_COURIER: _no_courier,
    STUCK_AT_VENUE: _stuck_at_venue,
    COURIER_STUCK: _courier_stuck,
    RUNNING_LATE: _running_late,
    ITEMS_UNAVAILABLE: _items_unavailable,
}


Cascade = Callable[[_Plan, random.Random], tuple[float, float]]  # (cause since, symptom since)


def _unaccepted_until_late(plan: _Plan, rng: random.Random) -> tuple[float, float]:
    assert plan.paid is not None
    end = rng.uniform(25.5, 28)
    if rng.random() < 0.5:
        plan.accepted, plan.cancelled = None, (end, "user")
    else:
        plan.accepted = end
    return plan.paid + 5, 23.0


def _unpaid_until_late(plan: _Plan, rng: random.Random) -> tuple[float, float]:
    u = rng.uniform
    plan.cash, plan.payment_failed = False, u(0.3, 1.0)
    end = u(22.5, 25)
    if rng.random() < 0.5:
        plan.paid, plan.accepted, plan.cancelled = None, None, (end, "system")
    else:
        plan.paid = end
        plan.accepted = end + u(0.5, 2.5)
    return 5.0, 20.0


# A cause and its symptom on one order (the rules table's per-order `mutes`): the kind's name
# is "cause>symptom". Every per-order cause/symptom pair of the table has one (a test checks).
CASCADES: dict[tuple[str, str], Cascade] = {
    (VENUE_NOT_ACCEPTING, RUNNING_LATE): _unaccepted_until_late,
    (PAYMENT_PENDING, RUNNING_LATE): _unpaid_until_late,
}
CASCADE_KINDS = {f"{cause}>{symptom}": (cause, symptom) for cause, symptom in CASCADES}
ORDER_INHIBITIONS = frozenset(
    (cause, symptom)
    for cause, symptoms in INHIBITS.items()
    if BY_NAME[cause].level == "order"
    for symptom in symptoms
)
SCENARIOS = frozenset({VENUE_STRUGGLING})
RULES = tuple(r.name for r in TABLE if r.name in INJECTORS or r.name in SCENARIOS)
NOT_SIMULATED = tuple(r.name for r in TABLE if r.name not in RULES)


# ---------------------------------------------------------------- the whole run


def simulate(config: SimulationConfig, start: datetime) -> Simulation:
    """Lifecycles of `config.orders` orders from `start` (deterministic per seed)."""
    rng = random.Random(config.seed)
    venues = _venues(config, rng)
    life = _Lifecycles(config, start, rng)
    kinds = _fault_kinds(config, rng)
    struggling = [venues[n] for n in range(kinds.count(VENUE_STRUGGLING))]
    open_venues = venues[len(struggling) :]
    orders: list[_Order] = []
    faults: list[Fault] = []
    for venue in struggling:
        _struggling_venue(config, life, venue, len(orders), orders, faults)
    waiting_venues = rng.sample(open_venues, len(open_venues))
    for kind in (k for k in kinds if k != VENUE_STRUGGLING):
        created = rng.uniform(0, config.window_minutes)
        waits = kind == VENUE_NOT_ACCEPTING or kind.startswith(f"{VENUE_NOT_ACCEPTING}>")
        venue = waiting_venues.pop() if waits else rng.choice(open_venues)
        plan = life.healthy()
        if kind in CASCADE_KINDS:
            cause, symptom = CASCADE_KINDS[kind]
            plan.cancelled, plan.reassigned = None, False
            cause_since, symptom_since = CASCADES[cause, symptom](plan, rng)
            order = life.build(_order_id(config, len(orders)), venue, created, plan)
            faults.append(Fault(cause, order.order_id, order.at(cause_since)))
            faults.append(Fault(symptom, order.order_id, order.at(symptom_since), cause))
        else:
            since = _inject(kind, plan, rng)
            order = life.build(_order_id(config, len(orders)), venue, created, plan)
            faults.append(Fault(kind, order.order_id, order.at(since)))
        orders.append(order)
    while len(orders) < config.orders:
        venue = rng.choice(open_venues)
        created = rng.uniform(0, config.window_minutes)
        orders.append(life.build(_order_id(config, len(orders)), venue, created, life.healthy()))
    deliveries = sorted(_deliveries(config, rng, orders), key=lambda d: d.at)
    return Simulation(
        deliveries,
        faults,
        [o.order_id for o in orders],
        [v.venue_id for v in venues],
        deliveries[-1].at,
    )


def _order_id(config: SimulationConfig, n: int) -> str:
    return f"{config.run}-{n:06d}"


def _venues(config: SimulationConfig, rng: random.Random) -> list[Venue]:
    count = config.venues or max(24, config.orders // 8)
    venues = []
    for n in range(count):
        city = n % config.cities
        centre = CITY_CENTRES[city % len(CITY_CENTRES)]
        venues.append(Venue(config.venue_base + n, city + 1, _away(rng, centre, 0, 3000)))
    return venues


def _fault_kinds(config: SimulationConfig, rng: random.Random) -> list[str]:
    """Which faults to inject: the kinds take turns (each venue fault costs 3-4 orders), and
    at most one venue_not_accepting per venue (more would make the venue struggle)."""
    budget = round(config.orders * config.fault_rate)
    kinds: list[str] = []
    order = [*RULES, *CASCADE_KINDS]
    rng.shuffle(order)
    while budget > 0:
        kind = order[len(kinds) % len(order)]
        kinds.append(kind)
        budget -= 4 if kind == VENUE_STRUGGLING else 1
    venues = config.venues or max(24, config.orders // 8)
    waiting = [
        VENUE_NOT_ACCEPTING,
        *(k for k in CASCADE_KINDS if k.startswith(VENUE_NOT_ACCEPTING)),
    ]
    while sum(map(kinds.count, waiting)) + 3 * kinds.count(VENUE_STRUGGLING) > venues // 2:
        weight = {k: kinds.count(k) * (3 if k == VENUE_STRUGGLING else 1) for k in kinds}
        kinds.remove(max((*waiting, VENUE_STRUGGLING), key=lambda k: weight.get(k, 0)))
    return kinds


def _struggling_venue(
    config: SimulationConfig,
    life: _Lifecycles,
    venue: Venue,
    first: int,
    orders: list[_Order],
    faults: list[Fault],
) -> None:
    rng, u = life.rng, life.rng.uniform
    begin = u(0, config.window_minutes)
    rejecting = rng.random() < 0.6
    failures: list[datetime] = []
    for n in range(4 if rejecting else 3):
        plan = life.healthy()
        plan.cancelled, plan.cash, plan.paid = None, False, u(0.1, 0.3)
        if rejecting:
            plan.rejected = plan.paid + u(0.5, 1.5)
        else:
            plan.accepted = plan.paid + u(8, 10)
        order = life.build(
            _order_id(config, first + n), venue, begin + n * (1.0 if rejecting else 0.3), plan
        )
        orders.append(order)
        if rejecting:
            assert plan.rejected is not None
            failures.append(order.at(plan.rejected))
        else:
            failures.append(order.at(plan.paid + 5))
            faults.append(Fault(VENUE_NOT_ACCEPTING, order.order_id, order.at(plan.paid + 5)))
    faults.append(Fault(VENUE_STRUGGLING, venue.venue_id, sorted(failures)[2]))


def _deliveries(
    config: SimulationConfig, rng: random.Random, orders: Iterable[_Order]
) -> Iterable[Delivery]:
    """When each event reaches the broker: at once, or late (after later events), or twice."""
    for order in orders:
        for body in order.bodies():
            occurred = datetime.fromisoformat(body["occurred_at"])
            delay = rng.uniform(2, config.max_late_s) if rng.random() < config.late_rate else 0
            yield Delivery(occurred + timedelta(seconds=delay), body)
            if rng.random() < config.duplicate_rate:
                yield Delivery(occurred + timedelta(seconds=rng.uniform(0, 30)), body)


# ---------------------------------------------------------------- scoring


Span = tuple[datetime, datetime | None]  # [from, until) ; until None: still loud


@dataclass(frozen=True)
class Detection:
    """A problem record the checks opened (from the inbox), and when it was loud (a card: not
    muted, not ended) if known."""

    rule: str
    subject: Subject
    since: datetime
    opened_at: datetime
    muted_by: str | None = None  # the (first) cause it was muted by
    loud: tuple[Span, ...] = ()
    judged_as_of: datetime | None = None  # the instant the rules found it at (<= opened_at)


def loud_spans(changes: Iterable[tuple[datetime, str, bool | None]]) -> tuple[Span, ...]:
    """When a record was a card, from its history in order: (at, change, muted at opening)."""
    spans: list[Span] = []
    start: datetime | None = None
    for at, change, muted in changes:
        if change in ("opened", "unmuted") and start is None and not muted:
            start = at
        elif change in ("muted", "resolved", "ended") and start is not None:
            spans.append((start, at))
            start = None
    if start is not None:
        spans.append((start, None))
    return tuple(spans)


def most_at_once(spans: Iterable[Span]) -> int:
    """The most spans overlapping at one instant (one ending as another starts: not both)."""
    spans = list(spans)
    edges = sorted(
        [(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans if b is not None],
        key=lambda edge: (edge[0], edge[1]),
    )
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    return most


def cards_per_order(faults: Sequence[Fault], detections: Sequence[Detection]) -> Counter[int]:
    """For each faulty order the checks found: the most cards it had at once (its own loud
    records; an order whose records are all muted by a venue rule is held by the venue's card,
    1). One card per order is the goal. Orders found only once their trouble was over are
    left out (`found_after_it_ended`): never a card, so neither one nor two."""
    counts: Counter[int] = Counter()
    for found in _found_by_order(faults, detections):
        cards = _cards(found)
        if cards is not None:
            counts[cards] += 1
    return counts


def found_after_it_ended(faults: Sequence[Fault], detections: Sequence[Detection]) -> int:
    """Faulty orders whose every record opened and ended in the same judgement: judged behind
    a backlog, through an interval in which the trouble began and cleared (in the inbox's
    history, never a card)."""
    return sum(_cards(found) is None for found in _found_by_order(faults, detections))


def _cards(found: Sequence[Detection]) -> int | None:
    """The most cards an order had at once (held by its venue's card: 1); None when it was
    found only after its trouble ended."""
    most = most_at_once(span for d in found for span in d.loud)
    if most or any(d.muted_by in VENUE_LEVEL for d in found):
        return most or 1
    return None if all(_over_when_found(d) for d in found) else 0


def _found_by_order(
    faults: Sequence[Fault], detections: Sequence[Detection]
) -> list[list[Detection]]:
    """The records of each faulty order the checks found, by order."""
    by_order: dict[Subject, list[Detection]] = defaultdict(list)
    for d in detections:
        by_order[d.subject].append(d)
    orders = sorted({f.subject for f in faults if isinstance(f.subject, str)})
    return [by_order[order] for order in orders if by_order.get(order)]


def _over_when_found(detection: Detection) -> bool:
    return bool(detection.loud) and all(end == start for start, end in detection.loud)


VENUE_LEVEL = frozenset(r.name for r in TABLE if r.level == "venue")


@dataclass(frozen=True)
class RuleScore:
    rule: str
    injected: int
    detected: int  # records opened
    true_positives: int
    lags_s: tuple[float, ...]  # opened_at - since of the true positives, clock seconds
    # ... split: opened_at - judged_as_of (how far behind now the workers judged: the backlog's
    # age) and judged_as_of - since (the rule's own lag: sweeps, timers, grace)
    backlog_s: tuple[float, ...] = ()
    rule_lags_s: tuple[float, ...] = ()

    @property
    def precision(self) -> float:
        return self.true_positives / self.detected if self.detected else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.injected if self.injected else 1.0

    def lag(self, quantile: float, of: str = "lags_s") -> float | None:
        values: tuple[float, ...] = getattr(self, of)
        if not values:
            return None
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, math.ceil(quantile * len(ordered)) - 1)]


@dataclass(frozen=True)
class SecondaryScore:
    """Symptoms muted under their cause (cascades): how many fired, and opened muted by it."""

    rule: str
    cause: str
    injected: int
    detected: int
    muted: int  # of the detected, muted by the expected cause

    @property
    def recall(self) -> float:
        return self.detected / self.injected if self.injected else 1.0


def _secondary(faults: Sequence[Fault]) -> set[tuple[str, Subject]]:
    return {(f.rule, f.subject) for f in faults if f.muted_by is not None}


def score_secondary(
    faults: Sequence[Fault], detections: Sequence[Detection]
) -> list[SecondaryScore]:
    """Per (symptom, cause) pair simulated: the symptoms found, and found muted."""
    found = {(d.rule, d.subject): d for d in sorted(detections, key=lambda d: d.opened_at)}
    scores = []
    for cause, symptom in CASCADES:
        truth = [f for f in faults if f.muted_by == cause and f.rule == symptom]
        hits = [found[f.rule, f.subject] for f in truth if (f.rule, f.subject) in found]
        muted = sum(1 for d in hits if d.muted_by == cause)
        scores.append(SecondaryScore(symptom, cause, len(truth), len(hits), muted))
    return scores


def score(faults: Sequence[Fault], detections: Sequence[Detection]) -> list[RuleScore]:
    """Per rule: precision and recall of the records against the injected truth (a record per
    (rule, subject) counts once), and the detection lags of the true positives. Symptoms
    expected muted under their cause are scored apart (`score_secondary`)."""
    secondary = _secondary(faults)
    truth = {(f.rule, f.subject) for f in faults} - secondary
    found: dict[tuple[str, Subject], Detection] = {}
    for d in sorted(detections, key=lambda d: d.opened_at):
        if (d.rule, d.subject) not in secondary:
            found.setdefault((d.rule, d.subject), d)
    scores = []
    for rule in RULES:
        injected = {key for key in truth if key[0] == rule}
        detected = {key for key in found if key[0] == rule}
        hits = injected & detected
        hit = [found[key] for key in sorted(hits, key=str)]
        lags = tuple((d.opened_at - d.since).total_seconds() for d in hit)
        split = [(d.opened_at, d.judged_as_of, d.since) for d in hit if d.judged_as_of]
        backlog = tuple((opened - as_of).total_seconds() for opened, as_of, _ in split)
        own = tuple((as_of - since).total_seconds() for _, as_of, since in split)
        scores.append(RuleScore(rule, len(injected), len(detected), len(hits), lags, backlog, own))
    return scores


def report_secondary(
    scores: Sequence[SecondaryScore], cards: Counter[int], over_when_found: int = 0
) -> str:
    """The symptoms muted under their causes, and the cards per faulty order."""
    lines = [
        "| secondary (muted) record | under cause | injected | detected | muted by it |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {s.rule} | {s.cause} | {s.injected} | {s.detected} | {s.muted} |" for s in scores]
    shown = ", ".join(f"{n} for {cards[n]}" for n in sorted(cards)) or "-"
    lines.append(f"\nloud cards per faulty order found (most at once): {shown}")
    if over_when_found:
        lines.append(
            f"found only after their trouble had ended (opened and resolved in one judgement,"
            f" behind a backlog: never a card): {over_when_found}"
        )
    return "\n".join(lines)


def one_card_per_order(cards: Counter[int]) -> bool:
    return set(cards) <= {1}


def report(scores: Sequence[RuleScore], speed: float = 1.0) -> str:
    """A markdown table: precision, recall and detection lag (real seconds) per rule."""
    lines = [
        "| rule | injected | detected | precision | recall | lag p50 (s) | lag p95 (s)"
        " | backlog p95 (s) | rule lag p95 (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in scores:
        quantiles = (s.lag(0.5), s.lag(0.95), s.lag(0.95, "backlog_s"), s.lag(0.95, "rule_lags_s"))
        shown = " | ".join(f"{x / speed:.2f}" if x is not None else "-" for x in quantiles)
        lines.append(
            f"| {s.rule} | {s.injected} | {s.detected} | {s.precision:.3f} | {s.recall:.3f}"
            f" | {shown} |"
        )
    all_lags = [lag for s in scores for lag in s.lags_s]
    if all_lags:
        lines.append(f"\nmedian detection lag over all rules: {median(all_lags) / speed:.2f} s")
    return "\n".join(lines)


def missed(faults: Sequence[Fault], detections: Sequence[Detection]) -> Mapping[str, list[Any]]:
    """What went wrong, for a human: faults not detected (symptoms too), and records with no
    fault."""
    truth = {(f.rule, f.subject) for f in faults}
    found = {(d.rule, d.subject) for d in detections}
    return {
        "not_detected": sorted(truth - found, key=str),
        "false_alarms": sorted(found - truth, key=str),
    }
