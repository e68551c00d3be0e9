"""Exact behind a backlog: the state as of an instant, and judging an order through every
instant at which a verdict can change (pure)."""

from __future__ import annotations

import random

from domain.order_checks.checks import check_order, check_order_through, placeholder
from domain.order_checks.projection import as_of, event_times, fold
from domain.order_checks.rules import RulesConfig
from tests.support.order_events import accepted, at, created, event, location

PAID = [created(1, 0), event("payment.authorized", 2, 1)]


def test_the_state_as_of_an_instant_has_only_what_happened_by_then() -> None:
    # Given an order accepted at 3, re-estimated at 9, assigned a courier at 10, reassigned at
    # 11, and with an item unavailable at 4 and substituted at 8
    state = fold(
        [
            *PAID,
            accepted(3, 3, ready_minute=20),
            event("item.unavailable", 4, 4, item_id=100),
            event("item.substituted", 5, 8, item_id=100),
            accepted(6, 9, ready_minute=30),
            event("courier.assigned", 7, 10, courier_id=7),
            event("courier.assigned", 8, 11, courier_id=8),
            location(9, 12, 60.17, 24.94),
        ]
    )
    # Then as of 5 the first estimate holds, the item waits, nobody is assigned
    early = as_of(state, at(5))
    assert early.ready_estimate is not None and early.ready_estimate.ready_at == at(20)
    assert [i.substituted for i in early.items] == [False]
    assert early.assignment is None and early.track == ()
    # As of 10.5 the second estimate and the first courier
    middle = as_of(state, at(10.5))
    assert middle.ready_estimate is not None and middle.ready_estimate.ready_at == at(30)
    assert middle.courier_id == 7 and [i.substituted for i in middle.items] == [True]
    # As of 0.5 only the creation; as of the newest event, the state itself
    assert as_of(state, at(0.5)).authorized is None
    assert as_of(state, at(12)) is state
    assert event_times(state, at(8), at(11)) == [at(9), at(10), at(11)]


def test_the_history_is_the_same_whatever_the_arrival_order() -> None:
    events = [*PAID, accepted(3, 3, ready_minute=20), accepted(4, 9, ready_minute=30)]
    events += [event("courier.assigned", 5, 10, courier_id=7), events[0]]
    shuffled = random.Random(4).sample(events, len(events))
    assert fold(shuffled) == fold(events)


def test_a_condition_that_began_and_ended_behind_the_judgement_is_found() -> None:
    # Given an order paid at 1 and accepted only at 8, both known when it is first judged at 15
    state = fold([*PAID, accepted(3, 8, ready_minute=25)])
    # When it is judged with everything known at 15 (the old way) / Then nothing is seen
    assert check_order(state, {}, set(), at(15), RulesConfig()).opened == ()
    # When it is judged through to 15
    steps = check_order_through(state, {}, set(), None, at(15), RulesConfig())
    # Then venue_not_accepting opened as of 6 (its timer) and ended as of 8 (the acceptance)
    opened, ended = steps[0], steps[1]
    assert [(o.rule, o.since, o.as_of) for o in opened.opened] == [
        ("venue_not_accepting", at(6), at(6))
    ]
    assert [(e.rule, e.problem_id) for e in ended.ended] == [
        ("venue_not_accepting", placeholder("venue_not_accepting"))
    ]
    # And the last judgement is at 15, with nothing open
    assert not steps[-1].changes_anything and len(steps) == 3


def test_judged_behind_its_newest_events_the_order_comes_due_at_the_next_one() -> None:
    state = fold([*PAID, accepted(3, 8, ready_minute=25)])
    steps = check_order_through(state, {}, set(), at(2), at(4), RulesConfig(), now=at(30))
    assert steps[-1].due_at == at(6)  # the timer first (before the acceptance at 8)
    steps = check_order_through(state, {}, set(), at(6.5), at(7), RulesConfig(), now=at(30))
    assert steps[-1].due_at == at(8)  # then the acceptance, the next event
    # Judged at the present, an event stamped ahead of the clock counts already
    present = check_order_through(state, {}, set(), at(6.5), at(7), RulesConfig(), now=at(7))
    assert present[-1].due_at == at(20)  # no_courier's timer, not the acceptance at 8
