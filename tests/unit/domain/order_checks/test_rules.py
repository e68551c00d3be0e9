"""Order problem rules at their edges, with an injected clock (pure).

Every threshold is inclusive: a rule fires at exactly its threshold, and not a microsecond
before; `next_check_at` names that instant.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from domain.order_checks.projection import OrderState, fold
from domain.order_checks.rules import (
    ORDER_RULES,
    VENUE_NOT_ACCEPTING,
    VenueActivity,
    VenueOutcome,
    Verdict,
    courier_stuck,
    evaluate,
    inhibit,
    items_unavailable,
    next_check,
    no_courier,
    payment_pending,
    predict_delivery,
    running_late,
    still_open,
    stuck_at_venue,
    venue_not_accepting,
    venue_outcome,
    venue_struggling,
)
from domain.order_checks.thresholds import (
    RulesConfig,
    RulesError,
    Thresholds,
    VenueNotAcceptingThresholds,
    load_rules,
    parse_rules,
)
from schemas.order_checks import LifecycleEvent
from tests.support.order_events import accepted, at, created, event, location

DEFAULTS = Thresholds()
A = (60.17, 24.94)  # the venue
NEAR = (60.17 + 0.0006, 24.94)  # ~67 m north: outside radius_m (50), inside clear_radius_m (100)
FAR = (60.18, 24.94)  # ~1.1 km north


def just_before(minutes: float) -> datetime:
    return at(minutes) - timedelta(microseconds=1)


def paid(*more: LifecycleEvent, **order: object) -> OrderState:
    """An order created at 0 and paid at 1, plus `more`."""
    return fold([created(1, 0, **order), event("payment.authorized", 2, 1), *more])


ACCEPTED = accepted(3, 2, ready_minute=20)
ASSIGNED = event("courier.assigned", 4, 10, courier_id=7)
ARRIVED = event("courier.arrived_at_venue", 5, 18, courier_id=7)
PICKED_UP = event("order.picked_up", 6, 23, courier_id=7)

# For each per-order rule: events that make it fire at exactly `minute` (its threshold).
FIRING: dict[str, tuple[list[LifecycleEvent], float]] = {
    "venue_not_accepting": ([created(1, 0), event("payment.authorized", 2, 1)], 6),
    "payment_pending": ([created(1, 0), event("payment.failed", 2, 1)], 5),
    "no_courier": ([created(1, 0), event("payment.authorized", 2, 1), ACCEPTED], 15),
    "stuck_at_venue": ([created(1, 0), ACCEPTED, ASSIGNED, ARRIVED], 28),
    "courier_stuck": ([created(1, 0), ACCEPTED, ASSIGNED, PICKED_UP, location(7, 24, *A)], 29),
    "running_late": ([created(1, 0), ACCEPTED, ASSIGNED, ARRIVED, PICKED_UP], 55),
    "items_unavailable": ([created(1, 0), event("item.unavailable", 4, 10, item_id=100)], 15),
}


def judge(rule: str, events: list[LifecycleEvent], now: datetime) -> Verdict:
    return ORDER_RULES[rule](fold(events), now, DEFAULTS)


def is_quiet(verdict: Verdict) -> bool:
    return not verdict.firing and not verdict.holding and verdict.next_check_at is None


# ---------------------------------------------------------------- properties of every rule


@pytest.mark.parametrize("rule", FIRING)
def test_fires_at_exactly_its_threshold_and_not_a_microsecond_before(rule: str) -> None:
    events, minute = FIRING[rule]
    # Given an order a little before the threshold
    early = judge(rule, events, at(minute - 3))
    # Then it does not fire, and asks to be checked again exactly at the threshold
    assert not early.firing and early.next_check_at == at(minute)
    assert not judge(rule, events, just_before(minute)).firing
    # When the clock reaches the threshold / Then it fires, since that instant
    verdict = judge(rule, events, at(minute))
    assert verdict.firing and verdict.holding and verdict.since == at(minute)


@pytest.mark.parametrize("rule", FIRING)
@pytest.mark.parametrize(
    "ending",
    [
        event("order.cancelled", 99, 4, by="support", reason="duplicate order"),
        event("order.delivered", 99, 4),
        event("venue.rejected", 99, 4, reason="closed"),
    ],
    ids=["cancelled", "delivered", "rejected"],
)
def test_a_terminal_order_never_fires_and_an_open_problem_resolves(
    rule: str, ending: LifecycleEvent
) -> None:
    # Given a firing order that ended in the middle (even reported late)
    events, minute = FIRING[rule]
    verdict = judge(rule, [ending, *events], at(minute + 60))
    # Then the rule is quiet: nothing fires, nothing holds, no timer is needed
    assert is_quiet(verdict)
    assert not still_open(True, verdict)


@pytest.mark.parametrize("rule", FIRING)
def test_out_of_order_and_duplicate_arrival_gives_the_same_verdict(rule: str) -> None:
    events, minute = FIRING[rule]
    shuffled = [*reversed(events), *events[:2]]
    for now in (at(minute - 1), at(minute), at(minute + 30)):
        assert judge(rule, shuffled, now) == judge(rule, events, now)


@pytest.mark.parametrize("rule", FIRING)
def test_an_order_without_order_created_is_not_judged(rule: str) -> None:
    # Given the events of a firing order, except its order.created (not arrived yet)
    events, minute = FIRING[rule]
    verdict = judge(rule, events[1:], at(minute + 60))
    # Then it is quiet until order.created arrives
    assert is_quiet(verdict)


# ---------------------------------------------------------------- venue_not_accepting


def test_venue_not_accepting_counts_from_payment() -> None:
    state = paid()
    early = venue_not_accepting(state, at(3), DEFAULTS)
    assert (early.firing, early.next_check_at) == (False, at(6))
    late = venue_not_accepting(state, at(8), DEFAULTS)
    assert late.firing and late.since == at(6) and late.next_check_at is None
    assert late.details["overdue_minutes"] == 2.0
    assert late.details["paid_at"] == at(1).isoformat()


def test_venue_not_accepting_waits_for_payment_and_clears_on_acceptance() -> None:
    assert is_quiet(venue_not_accepting(fold([created(1, 0)]), at(30), DEFAULTS))
    # An acceptance (even one that arrived before the payment event) clears it
    state = fold([ACCEPTED, created(1, 0), event("payment.authorized", 2, 1)])
    assert is_quiet(venue_not_accepting(state, at(30), DEFAULTS))
    # So does any later progress whose venue.accepted is missing
    assert is_quiet(venue_not_accepting(paid(event("order.ready", 5, 4)), at(30), DEFAULTS))


def test_pay_on_delivery_orders_count_from_creation() -> None:
    state = fold([created(1, 0, payment_method="cash")])
    assert venue_not_accepting(state, just_before(5), DEFAULTS).next_check_at == at(5)
    assert venue_not_accepting(state, at(5), DEFAULTS).firing
    assert is_quiet(payment_pending(state, at(30), DEFAULTS))


def test_thresholds_come_from_the_order_city() -> None:
    # Given city 2 allows venues 8 minutes
    slow = Thresholds(venue_not_accepting=VenueNotAcceptingThresholds(minutes=8))
    config = RulesConfig(cities={2: slow})
    state = paid(city_id=2)
    # When all rules are evaluated / Then city 2's threshold applies, others keep the default
    verdicts = {v.rule: v for v in evaluate(state, at(6), config)}
    assert not verdicts["venue_not_accepting"].firing
    assert verdicts["venue_not_accepting"].next_check_at == at(9)
    assert next_check(verdicts.values()) == at(9)
    assert any(
        v.rule == "venue_not_accepting" and v.firing for v in evaluate(paid(), at(6), config)
    )


# ---------------------------------------------------------------- payment_pending


def test_payment_pending_keeps_counting_through_a_failure_and_clears_on_authorization() -> None:
    failed = event("payment.failed", 2, 2, reason="card declined")
    verdict = payment_pending(fold([created(1, 0), failed]), at(5), DEFAULTS)
    assert verdict.firing and verdict.since == at(5)
    assert verdict.details["last_failure_reason"] == "card declined"
    # A late authorization clears it
    cleared = fold([created(1, 0), failed, event("payment.authorized", 3, 7)])
    assert is_quiet(payment_pending(cleared, at(8), DEFAULTS))


# ---------------------------------------------------------------- no_courier


def test_no_courier_warns_before_the_ready_time_and_is_critical_after_it() -> None:
    state = paid(ACCEPTED)  # estimated ready at 20, lead 5 minutes: due at 15
    warning = no_courier(state, at(15), DEFAULTS)
    assert (warning.firing, warning.severity, warning.next_check_at) == (True, "warning", at(20))
    assert no_courier(state, just_before(20), DEFAULTS).severity == "warning"
    critical = no_courier(state, at(20), DEFAULTS)
    assert (critical.severity, critical.next_check_at, critical.since) == ("critical", None, at(15))


def test_no_courier_clears_on_assignment_and_returns_on_unassignment() -> None:
    assert no_courier(paid(ACCEPTED), at(12), DEFAULTS).next_check_at == at(15)
    assigned = paid(ACCEPTED, ASSIGNED)
    assert not no_courier(assigned, at(19), DEFAULTS).firing
    assert no_courier(assigned, at(19), DEFAULTS).next_check_at is None
    # Unassigned at 17, after the due time: firing since the unassignment
    dropped = paid(ACCEPTED, ASSIGNED, event("courier.unassigned", 5, 17))
    verdict = no_courier(dropped, at(17), DEFAULTS)
    assert verdict.firing and verdict.since == at(17)


def test_no_courier_is_due_at_once_when_the_order_is_ready_early() -> None:
    state = paid(ACCEPTED, event("order.ready", 4, 12))
    assert no_courier(state, just_before(12), DEFAULTS).next_check_at == at(12)
    verdict = no_courier(state, at(12), DEFAULTS)
    assert verdict.firing and verdict.severity == "critical"


def test_no_courier_needs_acceptance_and_ends_at_pickup() -> None:
    assert is_quiet(no_courier(paid(), at(60), DEFAULTS))
    assert is_quiet(no_courier(paid(ACCEPTED, PICKED_UP), at(60), DEFAULTS))


# ---------------------------------------------------------------- stuck_at_venue


def test_stuck_at_venue_clears_on_pickup_or_reassignment() -> None:
    assert is_quiet(stuck_at_venue(paid(ACCEPTED, ASSIGNED, ARRIVED, PICKED_UP), at(40), DEFAULTS))
    # A new courier assigned after the arrival: nobody is waiting at the venue
    again = event("courier.assigned", 6, 20, courier_id=8)
    assert is_quiet(stuck_at_venue(paid(ACCEPTED, ASSIGNED, ARRIVED, again), at(40), DEFAULTS))


def test_stuck_at_venue_details_say_whether_the_order_is_ready() -> None:
    verdict = stuck_at_venue(paid(ACCEPTED, ASSIGNED, ARRIVED), at(30), DEFAULTS)
    assert verdict.details["order_ready"] is False
    assert verdict.details["courier_id"] == 7
    assert verdict.details["overdue_minutes"] == 2.0


# ---------------------------------------------------------------- courier_stuck


def carrying(*samples: LifecycleEvent) -> OrderState:
    return paid(ACCEPTED, ASSIGNED, ARRIVED, PICKED_UP, *samples)


def waited_at_venue(*after_pickup: LifecycleEvent) -> OrderState:
    """The courier seen at the venue at 18 and 20, then the pickup at 23."""
    waiting = [location(6, 18, *A), location(7, 20, *A)]
    pickup = event("order.picked_up", 8, 23, courier_id=7)
    return paid(
        ACCEPTED,
        ASSIGNED,
        event("courier.arrived_at_venue", 5, 17),
        *waiting,
        pickup,
        *after_pickup,
    )


def test_courier_stuck_counts_from_the_pickup_not_from_waiting_at_the_venue() -> None:
    # Given the courier stood at the venue from 18, picked up at 23, still there at 24
    state = waited_at_venue(location(10, 24, *A))
    # Then it counts from the pickup: due at 28
    assert courier_stuck(state, at(26), DEFAULTS).next_check_at == at(28)
    assert courier_stuck(state, at(28), DEFAULTS).firing


def test_courier_stuck_counts_from_when_the_courier_stopped_moving() -> None:
    state = carrying(location(10, 24, *FAR), location(11, 25, *A), location(12, 27, *A))
    assert not courier_stuck(state, just_before(30), DEFAULTS).firing
    verdict = courier_stuck(state, at(30), DEFAULTS)
    assert verdict.firing and verdict.since == at(30)
    assert verdict.details["still_since"] == at(25).isoformat()


def test_courier_stuck_needs_a_sample_after_the_pickup() -> None:
    assert is_quiet(courier_stuck(waited_at_venue(), at(60), DEFAULTS))


def test_courier_stuck_has_a_hysteresis_band() -> None:
    # Given a courier still at A since 24 (firing at 29), then seen ~67 m away at 30
    nudged = carrying(*(location(10 + m, 24 + m, *A) for m in range(5)), location(20, 30, *NEAR))
    verdict = courier_stuck(nudged, at(31), DEFAULTS)
    # Then it no longer fires (moved more than 50 m) but still holds (within 100 m)
    assert (verdict.firing, verdict.holding) == (False, True)
    assert verdict.next_check_at == at(35)  # 5 minutes still at NEAR would fire again
    assert still_open(True, verdict) and not still_open(False, verdict)
    # When it is seen far away / Then the problem resolves
    moved = courier_stuck(carrying(location(10, 24, *A), location(20, 30, *FAR)), at(31), DEFAULTS)
    assert not still_open(True, moved)


# ---------------------------------------------------------------- running_late


def test_running_late_uses_the_typical_stage_durations() -> None:
    # Given a card order just created (payment 1, accept 3, prepare 15, handover 2, travel 15)
    state = fold([created(1, 0)])
    verdict = running_late(state, at(0), DEFAULTS)
    # Then delivery is predicted at 36, 9 minutes ahead of the promise (45)
    assert verdict.details["predicted_delivery_at"] == at(36).isoformat()
    assert verdict.details["late_minutes"] == -9.0
    # If nothing at all happens, the clock pushes the prediction: late by 5 at 15, by 10 at 20
    assert verdict.next_check_at == at(15)
    assert predict_delivery(state, DEFAULTS).at(at(20)) == at(55)
    assert running_late(state, at(20), DEFAULTS).firing


def test_running_late_from_the_current_stage_with_hysteresis_and_escalation() -> None:
    # Given an order picked up at 23 (delivery expected at 38, promised at 45)
    state = paid(ACCEPTED, ASSIGNED, ARRIVED, PICKED_UP)
    early = running_late(state, at(30), DEFAULTS)
    assert (early.firing, early.next_check_at) == (False, at(50))  # clear band starts at 50
    band = running_late(state, at(52), DEFAULTS)
    assert (band.firing, band.holding, band.next_check_at) == (False, True, at(55))
    late = running_late(state, at(55), DEFAULTS)
    assert (late.severity, late.next_check_at, late.details["late_minutes"]) == (
        "warning",
        at(65),
        10.0,
    )
    assert running_late(state, at(65), DEFAULTS).severity == "critical"
    assert running_late(state, at(65), DEFAULTS).next_check_at is None


def test_running_late_fires_at_once_when_an_estimate_makes_the_promise_impossible() -> None:
    # Given a venue that will only be ready at 50 (promise 45)
    verdict = running_late(paid(accepted(3, 2, ready_minute=50)), at(3), DEFAULTS)
    # Then 67 is predicted: 22 late, critical, since the acceptance
    assert verdict.firing and verdict.severity == "critical"
    assert verdict.since == at(2)
    assert verdict.details["predicted_delivery_at"] == at(67).isoformat()


def test_running_late_resolves_only_below_the_clear_threshold() -> None:
    late = paid(accepted(3, 2, ready_minute=40))  # 57: 12 late
    assert running_late(late, at(6), DEFAULTS).firing
    better = fold([accepted(4, 5, ready_minute=36)], late)  # 53: 8 late
    verdict = running_late(better, at(6), DEFAULTS)
    assert (verdict.firing, verdict.holding) == (False, True)
    assert still_open(True, verdict)
    good = fold([accepted(5, 6, ready_minute=30)], better)  # 47: 2 late
    assert not still_open(True, running_late(good, at(6), DEFAULTS))


# ---------------------------------------------------------------- items_unavailable


def test_items_unavailable_lists_only_the_overdue_items() -> None:
    first = event("item.unavailable", 4, 10, item_id=100)
    second = event("item.unavailable", 5, 12, item_id=101)
    verdict = items_unavailable(fold([created(1, 0), first, second]), at(15), DEFAULTS)
    assert verdict.firing and verdict.since == at(15)
    assert [item["item_id"] for item in verdict.details["items"]] == [100]
    # The first substituted at 14: the second is due at 17
    swap = event("item.substituted", 6, 14, item_id=100)
    state = fold([created(1, 0), first, second, swap])
    assert items_unavailable(state, at(15), DEFAULTS).next_check_at == at(17)


def test_a_substitution_that_arrived_first_still_resolves_the_item() -> None:
    swap = event("item.substituted", 6, 14, item_id=100)
    state = fold([created(1, 0), swap, event("item.unavailable", 4, 10, item_id=100)])
    assert is_quiet(items_unavailable(state, at(30), DEFAULTS))


# ---------------------------------------------------------------- venue_struggling


def decisions(pattern: str, start: float = 0) -> list[VenueOutcome]:
    """One decision a minute from `start`: F = failed, . = accepted."""
    return [
        VenueOutcome(f"O{n}", at(start + n), failed=mark == "F") for n, mark in enumerate(pattern)
    ]


def struggling(outcomes: list[VenueOutcome], now: float = 30, **waiting: float) -> Verdict:
    not_accepting = {order: at(minute) for order, minute in waiting.items()}
    return venue_struggling(
        VenueActivity(10, outcomes, {VENUE_NOT_ACCEPTING: not_accepting}), at(now), DEFAULTS
    )


def test_venue_struggling_fires_on_k_failures_of_the_last_n_with_hysteresis() -> None:
    verdict = struggling(decisions("F..F...F.."))
    assert verdict.firing and verdict.since == at(7) and verdict.severity == "critical"
    assert verdict.details["failed_orders"] == ["O0", "O3", "O7"]
    two = struggling(decisions("...F...F.."))
    assert (two.firing, two.holding) == (False, True)
    assert not struggling(decisions(".......F..")).holding


def test_venue_struggling_counts_only_the_last_n_decisions() -> None:
    # Given three failures followed by ten accepted orders / Then they no longer count
    assert not struggling(decisions("FFF" + "." * 10)).holding


def test_venue_struggling_forgets_old_decisions() -> None:
    # Given three failures at 0, 1, 2 (max age 180 minutes)
    outcomes = decisions("FFF")
    held = struggling(outcomes, now=179)
    assert held.firing and held.next_check_at == at(180)
    # At exactly 180 minutes the first one ages out
    aged = struggling(outcomes, now=180)
    assert (aged.firing, aged.holding) == (False, True)


def test_venue_struggling_fires_on_several_orders_waiting_for_acceptance() -> None:
    verdict = struggling([], O1=6, O2=8, O3=7)
    assert verdict.firing and verdict.since == at(8)
    assert verdict.details["orders_waiting_for_acceptance"] == ["O1", "O2", "O3"]
    one = struggling([], O1=6)
    assert (one.firing, one.holding) == (False, True)


def test_venue_outcome_of_an_order() -> None:
    rejected = fold([created(1, 0), event("venue.rejected", 2, 3, reason="closed")])
    assert venue_outcome(rejected) == VenueOutcome("ORD-1", at(3), failed=True)
    by_venue = event("order.cancelled", 9, 30, by="venue", reason="out of dough")
    assert venue_outcome(paid(ACCEPTED, by_venue)) == VenueOutcome("ORD-1", at(30), True)
    assert venue_outcome(paid(ACCEPTED)) == VenueOutcome("ORD-1", at(2), failed=False)
    by_user = event("order.cancelled", 9, 3, by="user", reason="too slow")
    assert venue_outcome(paid(by_user)) is None
    assert venue_outcome(paid()) is None


# ---------------------------------------------------------------- inhibition


def test_an_open_venue_problem_mutes_venue_not_accepting_only() -> None:
    # Given the verdicts of an order firing venue_not_accepting
    verdicts = evaluate(paid(), at(10), RulesConfig())
    # When its venue has venue_struggling open / Then only venue_not_accepting is muted
    muted = {v.rule: v.muted for v in inhibit(verdicts, {"venue_struggling"})}
    assert muted["venue_not_accepting"] is True
    assert not any(flag for rule, flag in muted.items() if rule != "venue_not_accepting")
    assert not any(v.muted for v in inhibit(verdicts, set()))


# ---------------------------------------------------------------- rules file


RULES_TOML = """\
# thresholds per city
[defaults]
pay_on_delivery_methods = ["cash", "voucher"]

[defaults.venue_not_accepting]
minutes = 6

[cities.7.venue_not_accepting]
minutes = 9.5

[cities.7.running_late.stage_minutes]
travel = 25
"""


def test_rules_file_layers_city_over_defaults_over_built_in(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(RULES_TOML, encoding="utf-8")
    config = load_rules(path)
    assert config.defaults.venue_not_accepting.minutes == 6
    assert config.defaults.pay_on_delivery_methods == ("cash", "voucher")
    city = config.for_city(7)
    assert city.venue_not_accepting.minutes == 9.5
    assert city.running_late.stage_minutes.travel == 25
    assert city.running_late.stage_minutes.prepare == 15  # built-in default kept
    assert city.pay_on_delivery_methods == ("cash", "voucher")  # file default kept
    assert config.for_city(8) == config.defaults
    assert config.for_city(None) == config.defaults


def test_rules_file_may_be_json(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text('{"cities": {"3": {"payment_pending": {"minutes": 2}}}}', encoding="utf-8")
    assert load_rules(path).for_city(3).payment_pending.minutes == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[defaults.venue_not_accepting]\nminutes = 'ten'\n",
            "rules: defaults.venue_not_accepting.minutes: Input should be a valid number (line 2)",
        ),
        (
            "[cities.7.running_late]\nminutes = 5\nminuts = 12\n",
            "rules: cities.7.running_late.minuts: Extra inputs are not permitted (line 3)",
        ),
        (
            "[cities.7.runing_late]\nminutes = 5\n",
            "rules: cities.7.runing_late: Extra inputs are not permitted (line 1)",
        ),
        (
            "[defaults.courier_stuck]\nradius_m = 200\n",
            "defaults.courier_stuck: Value error, clear_radius_m must be at least radius_m",
        ),
        ("[defaults.stuck_at_venue]\nminutes = -1\n", "minutes: Input should be greater"),
        ("[cities.paris.no_courier]\nlead_minutes = 3\n", "cities.paris: city keys must be"),
        ("[city.7]\n", "city: unknown section"),
        ("[defaults\nminutes = 1\n", "not valid TOML: Expected ']' at the end of a table"),
    ],
)
def test_a_bad_rules_file_names_the_key_and_line(text: str, expected: str) -> None:
    with pytest.raises(RulesError) as error:
        parse_rules(text)
    assert expected in str(error.value)


def test_a_missing_rules_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read"):
        load_rules(tmp_path / "nope.toml")


# ---------------------------------------------------------------- next_check_at, exhaustively

JOURNEY: list[LifecycleEvent] = [
    created(1, 0),
    event("payment.authorized", 2, 1),
    accepted(3, 2, ready_minute=20),
    event("item.unavailable", 4, 5, item_id=100),
    event("courier.assigned", 5, 10, courier_id=7),
    event("courier.arrived_at_venue", 6, 18, courier_id=7),
    event("order.ready", 7, 21),
    event("order.picked_up", 8, 23, courier_id=7),
    location(9, 24, *A),
    location(10, 26, *NEAR),
    event("order.delivered", 11, 40),
]


def outlook(verdict: Verdict) -> tuple[bool, bool, str]:
    return (verdict.firing, verdict.holding, verdict.severity)


@pytest.mark.parametrize("known", range(1, len(JOURNEY) + 1))
@pytest.mark.parametrize("rule", ORDER_RULES)
def test_next_check_at_is_exactly_the_next_change(rule: str, known: int) -> None:
    # Given the first `known` events of a journey, judged every 4 minutes
    state = fold(JOURNEY[:known])
    judge_at = ORDER_RULES[rule]
    for minute in range(0, 81, 4):
        now = at(minute)
        verdict = judge_at(state, now, DEFAULTS)
        due = verdict.next_check_at
        # Then nothing changes before next_check_at (scanned every 2 minutes, 90 at most) ...
        horizon = min(due, now + timedelta(minutes=90)) if due else now + timedelta(minutes=90)
        probe = now
        while probe < horizon:
            assert outlook(judge_at(state, probe, DEFAULTS)) == outlook(verdict), (minute, probe)
            probe += timedelta(minutes=2)
        if due is not None:
            # ... not even a microsecond before, and something does change at it
            assert due > now
            assert outlook(judge_at(state, due - timedelta(microseconds=1), DEFAULTS)) == outlook(
                verdict
            )
            assert outlook(judge_at(state, due, DEFAULTS)) != outlook(verdict)
