"""An order's timeline for agents: what happened when, what should have happened by when (the
rules' thresholds for its city), and never a courier's coordinates."""

from __future__ import annotations

from domain.order_checks.projection import fold
from domain.order_checks.thresholds import RulesConfig, Thresholds
from domain.order_checks.timeline import timeline
from tests.support.order_events import accepted, at, created, event, location

DEFAULTS = Thresholds()


def test_a_paid_unaccepted_order_should_have_been_accepted_five_minutes_after_payment() -> None:
    # Given an order created at 0 and paid at 0.5, nobody accepted
    state = fold([created(), event("payment.authorized", 2, 0.5)])
    # When its timeline is read at minute 7
    steps = timeline(state, DEFAULTS, at(7))
    # Then what happened is in order, and acceptance is overdue since 5.5
    assert [e["type"] for e in steps["happened"]] == ["order.created", "payment.authorized"]
    expected = {e["what"]: e for e in steps["expected"]}
    assert expected["venue.accepted"] == {
        "what": "venue.accepted",
        "by": at(5.5).isoformat(),
        "rule": "venue_not_accepting",
        "overdue": True,
    }
    # And delivery is due by the promise (12:45), not overdue yet; soonest first
    assert expected["order.delivered"]["overdue"] is False
    assert [e["what"] for e in steps["expected"]] == ["venue.accepted", "order.delivered"]
    # And a city's own thresholds move the deadline
    slow = RulesConfig(
        cities={1: Thresholds.model_validate({"venue_not_accepting": {"minutes": 9}})}
    )
    later = timeline(state, slow.for_city(1), at(7))["expected"][0]
    assert later["by"] == at(9.5).isoformat() and later["overdue"] is False


def test_an_unpaid_order_waits_for_payment_and_a_courier_for_pickup() -> None:
    unpaid = timeline(fold([created()]), DEFAULTS, at(1))["expected"]
    assert unpaid[0]["what"] == "payment.authorized" and unpaid[0]["by"] == at(5).isoformat()
    waiting = fold(
        [
            created(),
            event("payment.authorized", 2, 0.5),
            accepted(3, 1, ready_minute=20),
            event("courier.assigned", 4, 2),
            event("courier.arrived_at_venue", 5, 12),
        ]
    )
    expected = {e["what"]: e["by"] for e in timeline(waiting, DEFAULTS, at(13))["expected"]}
    assert expected["order.picked_up"] == at(22).isoformat()
    assert "courier.assigned" not in expected and "venue.accepted" not in expected


def test_coordinates_never_show_and_a_finished_order_expects_nothing() -> None:
    state = fold(
        [
            created(),
            event("payment.authorized", 2, 0.5),
            location(3, 3, 60.1699, 24.9384),
            event("order.cancelled", 4, 4),
        ]
    )
    steps = timeline(state, DEFAULTS, at(5))
    assert steps["expected"] == []
    assert all("lat" not in e and "lon" not in e for e in steps["happened"])
    assert "60.1699" not in repr(steps)
