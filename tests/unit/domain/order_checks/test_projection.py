"""The order projection: idempotent, order-independent, never regressing (pure)."""

from __future__ import annotations

import json
import random

import pytest

from domain.order_checks.projection import (
    TRACK_LIMIT,
    OrderState,
    Stage,
    apply,
    dump_state,
    fold,
    is_late,
    load_state,
)
from schemas.order_checks import LifecycleEvent
from tests.support.order_events import accepted, at, created, event, location

JOURNEY: list[LifecycleEvent] = [
    created(1, 0),
    event("payment.authorized", 2, 0.5),
    accepted(3, 2, ready_minute=20),
    event("item.unavailable", 4, 5, item_id=100),
    event("courier.assigned", 5, 10, courier_id=7),
    event("item.substituted", 6, 8, item_id=100, substitute_item_id=200),
    event("courier.arrived_at_venue", 7, 18, courier_id=7),
    event("order.ready", 8, 21),
    event("order.picked_up", 9, 23, courier_id=7),
    location(10, 24, 60.17, 24.94),
    location(11, 26, 60.18, 24.95),
]


def test_a_journey_moves_through_the_stages() -> None:
    # Given the events of an order, one at a time
    stages = []
    state = None
    for e in JOURNEY:
        state = apply(state, e)
        stages.append(state.stage)
    # Then the stage follows the milestones and the facts are kept
    assert stages[:3] == [Stage.CREATED, Stage.PAID, Stage.ACCEPTED]
    assert stages[-1] == Stage.PICKED_UP
    assert state is not None
    assert (state.known, state.venue_id, state.city_id, state.courier_id) == (True, 10, 1, 7)
    assert state.pending_items == ()
    assert [s.fact.sequence for s in state.track] == [10, 11]
    assert state.last_sequence == 11
    assert not state.terminal


def test_a_duplicate_changes_nothing() -> None:
    # Given an order state
    state = fold(JOURNEY)
    # When any of its events is applied again
    # Then the state is equal (a caller may skip the write)
    for e in JOURNEY:
        assert apply(state, e) == state


@pytest.mark.parametrize("seed", range(20))
def test_any_arrival_order_with_duplicates_gives_the_same_state(seed: int) -> None:
    # Given the journey shuffled, with some events delivered twice
    rng = random.Random(seed)
    events = JOURNEY + rng.sample(JOURNEY, 4)
    rng.shuffle(events)
    # When folded / Then the state is the in-order one
    assert fold(events) == fold(JOURNEY)


def test_a_late_acceptance_is_recorded_but_does_not_move_the_order_back() -> None:
    # Given an order picked up before its venue.accepted arrived
    state = fold([created(1, 0), event("order.picked_up", 9, 23)])
    late = accepted(3, 2, ready_minute=20)
    assert is_late(state, late)
    # When the acceptance arrives
    after = apply(state, late)
    # Then it is kept as a fact, but the order stays picked up
    assert after.stage == Stage.PICKED_UP
    assert after.accepted is not None and after.accepted.at == at(2)
    assert after.last_sequence == 9


def test_events_before_order_created_are_kept_and_completed_later() -> None:
    # Given events for an order whose order.created has not arrived
    early = fold([accepted(3, 2), location(5, 4, 60.1, 24.9)])
    # Then the order is incomplete, but its facts are there
    assert (early.known, early.stage, early.city_id) == (False, Stage.ACCEPTED, None)
    assert len(early.track) == 1
    # When order.created arrives / Then the state is complete and the same as in order
    complete = apply(early, created(1, 0))
    assert complete.known and complete.city_id == 1
    assert complete == fold([created(1, 0), accepted(3, 2), location(5, 4, 60.1, 24.9)])


def test_cancellation_in_the_middle_is_terminal_and_later_progress_does_not_revive() -> None:
    # Given an accepted order, cancelled by the venue
    state = fold([*JOURNEY[:3], event("order.cancelled", 6, 5, by="venue", reason="no staff")])
    assert (state.stage, state.terminal) == (Stage.CANCELLED, True)
    # When a stale progress event arrives / Then the order stays cancelled
    assert apply(state, event("order.ready", 5, 4)).stage == Stage.CANCELLED


def test_of_several_terminal_events_the_highest_sequence_wins() -> None:
    rejected = event("venue.rejected", 3, 2, reason="closed")
    cancelled = event("order.cancelled", 4, 3, by="system", reason="venue rejected")
    for events in ([rejected, cancelled], [cancelled, rejected]):
        state = fold([created(1, 0), *events])
        assert state.outcome == Stage.CANCELLED
        assert state.rejected is not None  # the venue's rejection is still known


def test_courier_assignment_is_last_writer_wins_by_sequence() -> None:
    # Given courier 7 assigned, unassigned, then courier 8 assigned, arriving in reverse
    events = [
        event("courier.assigned", 6, 14, courier_id=8),
        event("courier.unassigned", 5, 12, courier_id=7),
        event("courier.assigned", 4, 10, courier_id=7),
    ]
    # Then courier 8 is the courier
    assert fold([created(), *events]).courier_id == 8
    assert fold([created(), *events[1:]]).courier_id is None


def test_an_arrival_counts_only_after_the_latest_assignment_change() -> None:
    # Given an arrival that came in before its (lower-sequence) assignment
    arrived = event("courier.arrived_at_venue", 5, 18, courier_id=7)
    state = fold([created(), arrived, event("courier.assigned", 4, 10, courier_id=7)])
    # Then the courier is at the venue
    assert state.courier_at_venue is not None
    # When the courier is then unassigned / Then nobody is at the venue any more
    gone = apply(state, event("courier.unassigned", 6, 19))
    assert gone.courier_at_venue is None


def test_item_status_is_the_latest_per_item_whatever_the_arrival_order() -> None:
    unavailable = event("item.unavailable", 4, 5, item_id=100)
    substituted = event("item.substituted", 5, 7, item_id=100)
    again = event("item.unavailable", 6, 9, item_id=100)
    other = event("item.unavailable", 7, 9, item_id=101)
    assert fold([created(), substituted, unavailable]).pending_items == ()
    pending = fold([created(), again, substituted, unavailable, other]).pending_items
    assert [(i.item_id, i.fact.at) for i in pending] == [(100, at(9)), (101, at(9))]


def test_the_location_track_is_bounded_to_the_most_recent_samples() -> None:
    # Given more samples than the track keeps, arriving newest first, one twice
    samples = [location(n, n / 10, 60.0, 24.0) for n in range(TRACK_LIMIT + 30)]
    state = fold([created(0), *reversed(samples), samples[-1]])
    # Then the highest-sequence samples are kept, oldest first
    kept = [s.fact.sequence for s in state.track]
    assert kept == list(range(30, TRACK_LIMIT + 30))


def test_payment_failure_then_authorization_means_paid() -> None:
    failed = event("payment.failed", 2, 1, reason="insufficient funds")
    state = fold([created(), event("payment.authorized", 3, 2), failed])
    assert state.stage == Stage.PAID
    assert state.payment_failure is not None and state.payment_failure.reason == (
        "insufficient funds"
    )


def test_a_newer_acceptance_updates_the_ready_estimate_only() -> None:
    # Given two acceptances (the venue revised its estimate), applied newest first
    state = fold([created(), accepted(5, 6, ready_minute=30), accepted(3, 2, ready_minute=20)])
    # Then acceptance is the first one, the estimate the latest one
    assert state.accepted is not None and state.accepted.at == at(2)
    assert state.ready_estimate is not None and state.ready_estimate.ready_at == at(30)


def test_events_of_another_order_are_refused_and_fold_needs_input() -> None:
    with pytest.raises(ValueError, match="ORD-2"):
        apply(fold([created()]), created(order_id="ORD-2"))
    with pytest.raises(ValueError, match="at least one event"):
        fold([])


def test_a_state_round_trips_through_json() -> None:
    # Given a full state / When dumped to JSON text and read back / Then it is equal
    state = fold([*JOURNEY, event("order.cancelled", 12, 30, by="support", reason="x")])
    text = json.dumps(dump_state(state))
    assert load_state(json.loads(text)) == state
    assert load_state(dump_state(OrderState("ORD-9"))) == OrderState("ORD-9")
