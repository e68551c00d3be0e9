"""An order's timeline for support agents: what happened when, and what should have happened by
when (the rules' thresholds for the order's city). Pure: the console's detail view reads it
through `GET /v1/inbox/{problem_id}`.

Only what an agent needs: event types and instants, never a courier's coordinates.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from domain.order_checks import rules
from domain.order_checks.checks import last_events
from domain.order_checks.projection import OrderState, Stage
from domain.order_checks.thresholds import Thresholds

PRIVATE = frozenset({"lat", "lon"})  # personal data: never shown, never logged


@dataclass(frozen=True)
class Expected:
    """Something that should happen by `by` (the rule that watches it fires then)."""

    what: str
    by: datetime
    rule: str

    def as_json(self, now: datetime) -> dict[str, Any]:
        return {
            "what": self.what,
            "by": self.by.isoformat(),
            "rule": self.rule,
            "overdue": now >= self.by,
        }


def happened(state: OrderState) -> list[dict[str, Any]]:
    """The events the order's state remembers, oldest first, without coordinates."""
    events = last_events(state, limit=1_000)
    return [{k: v for k, v in e.items() if k not in PRIVATE} for e in reversed(events)]


def expected(state: OrderState, thresholds: Thresholds) -> list[Expected]:
    """What has not happened yet and should, by when; nothing for a finished order."""
    if not state.known or state.terminal:
        return []
    return sorted(_expected(state, thresholds), key=lambda e: e.by)


def _expected(state: OrderState, thresholds: Thresholds) -> Iterator[Expected]:
    assert state.placed is not None
    placed = state.placed.fact.at
    paid = rules.paid_at(state, thresholds)
    if paid is None:
        by = _after(placed, thresholds.payment_pending.minutes)
        yield Expected("payment.authorized", by, rules.PAYMENT_PENDING)
    elif not state.reached(Stage.ACCEPTED):
        by = _after(paid, thresholds.venue_not_accepting.minutes)
        yield Expected("venue.accepted", by, rules.VENUE_NOT_ACCEPTING)
    yield from _courier(state, thresholds)
    for item in state.pending_items:
        by = _after(item.fact.at, thresholds.items_unavailable.minutes)
        yield Expected(f"item.substituted (item {item.item_id})", by, rules.ITEMS_UNAVAILABLE)
    if state.delivered is None:
        yield Expected("order.delivered", state.placed.promised_delivery_at, rules.RUNNING_LATE)


def _courier(state: OrderState, thresholds: Thresholds) -> Iterator[Expected]:
    if state.reached(Stage.PICKED_UP):
        return
    ready = [state.ready_estimate.ready_at] if state.ready_estimate else []
    ready += [state.ready.at] if state.ready else []
    if state.courier_id is None and ready and state.reached(Stage.ACCEPTED):
        by = min(ready) - timedelta(minutes=thresholds.no_courier.lead_minutes)
        yield Expected("courier.assigned", by, rules.NO_COURIER)
    arrival = state.courier_at_venue
    if arrival is not None:
        by = _after(arrival.fact.at, thresholds.stuck_at_venue.minutes)
        yield Expected("order.picked_up", by, rules.STUCK_AT_VENUE)


def _after(start: datetime, minutes: float) -> datetime:
    return start + timedelta(minutes=minutes)


def timeline(state: OrderState, thresholds: Thresholds, now: datetime) -> dict[str, Any]:
    """JSON-ready: `happened` (oldest first), `expected` (soonest first, `overdue` at now)."""
    return {
        "happened": happened(state),
        "expected": [e.as_json(now) for e in expected(state, thresholds)],
    }
