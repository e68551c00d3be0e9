"""The simulator's lifecycles, replayed through the pure projection and rules (no services):
injected faults fire their rule and nothing else, healthy orders fire nothing."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.order_checks.checks import LiveProblem, check_order, check_order_through, check_venue
from domain.order_checks.projection import OrderState, apply
from domain.order_checks.rules import (
    VENUE_NOT_ACCEPTING,
    RulesConfig,
    VenueActivity,
    VenueOutcome,
    venue_outcome,
)
from schemas.order_checks import parse_lifecycle
from synthetic.order_checks import (
    CASCADES,
    ORDER_INHIBITIONS,
    RULES,
    Detection,
    Simulation,
    SimulationConfig,
    cards_per_order,
    loud_spans,
    most_at_once,
    score,
    score_secondary,
    simulate,
)

START = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)


class Records:
    """The problem records a replay opens, with their history (as problem_history keeps it)."""

    def __init__(self) -> None:
        self.ids = iter(range(1, 10**9))
        self.opened: dict[int, tuple[str, int | str, datetime, datetime, str | None]] = {}
        self.history: dict[int, list[tuple[datetime, str, bool | None]]] = defaultdict(list)

    def apply(
        self, subject: int | str, live: dict[str, LiveProblem], judged: Any, now: datetime
    ) -> None:
        for opening in judged.opened:
            problem_id = next(self.ids)
            self.opened[problem_id] = (
                opening.rule,
                subject,
                opening.since,
                now,
                opening.muted_by,
            )
            self.history[problem_id].append((now, "opened", opening.muted))
            live[opening.rule] = LiveProblem(
                problem_id, opening.rule, opening.severity, opening.muted, opening.since
            )
        for update in judged.updated:
            for change in update.changes:
                self.history[update.problem_id].append((now, change, None))
            live[update.rule] = replace(live[update.rule], muted=update.muted)
        for ending in judged.ended:
            self.history[ending.problem_id].append((now, "resolved", None))
            del live[ending.rule]

    def detections(self) -> list[Detection]:
        return [
            Detection(rule, subject, since, at, muted_by, loud_spans(self.history[problem_id]))
            for problem_id, (rule, subject, since, at, muted_by) in self.opened.items()
        ]


def replay(sim: Simulation, tick_s: float = 20.0) -> list[Detection]:
    """Deliver the events in order and judge every live order and venue each tick, as the
    workers and the sweeps do (without Postgres)."""
    config = RulesConfig()
    states: dict[str, OrderState] = {}
    live: dict[str, dict[str, LiveProblem]] = defaultdict(dict)
    venue_live: dict[int, dict[str, LiveProblem]] = defaultdict(dict)
    outcomes: dict[int, dict[str, VenueOutcome]] = defaultdict(dict)
    records = Records()
    pending = list(sim.deliveries)
    now = sim.deliveries[0].at
    while pending or now <= sim.ends_at:
        while pending and pending[0].at <= now:
            event = parse_lifecycle(pending.pop(0).event)
            states[event.order_id] = apply(states.get(event.order_id), event)
        for order_id, state in states.items():
            outcome = venue_outcome(state)
            if outcome and state.venue_id:
                outcomes[state.venue_id][order_id] = outcome
            if state.terminal and not live[order_id]:
                continue
            rules = set(venue_live[state.venue_id]) if state.venue_id else set()
            judged = check_order(state, live[order_id], rules, now, config)
            records.apply(order_id, live[order_id], judged, now)
        for venue_id in {s.venue_id for s in states.values() if s.venue_id}:
            waiting = {
                o: p.since
                for o, problems in live.items()
                for rule, p in problems.items()
                if rule == VENUE_NOT_ACCEPTING and states[o].venue_id == venue_id
            }
            activity = VenueActivity(
                venue_id, tuple(outcomes[venue_id].values()), {VENUE_NOT_ACCEPTING: waiting}
            )
            judged = check_venue(activity, venue_live[venue_id], now, config.defaults)
            records.apply(venue_id, venue_live[venue_id], judged, now)
        now += timedelta(seconds=tick_s)
    return records.detections()


def test_every_rule_gets_faults_and_healthy_orders_dominate() -> None:
    sim = simulate(SimulationConfig(orders=400, fault_rate=0.2, seed=3), START)
    kinds = Counter(f.rule for f in sim.faults)
    assert set(kinds) == set(RULES)
    assert len(sim.order_ids) == 400
    faulty_orders = {f.subject for f in sim.faults if isinstance(f.subject, str)}
    assert len(faulty_orders) < 0.25 * 400
    # the noise is there: duplicates, deliveries out of order, cancellations
    ids = Counter(d.event["event_id"] for d in sim.deliveries)
    assert any(n > 1 for n in ids.values())
    sequences = defaultdict(list)
    for d in sim.deliveries:
        sequences[d.event["order_id"]].append(d.event["sequence"])
    assert any(seq != sorted(seq) for seq in sequences.values())
    assert any(d.event["type"] == "order.cancelled" for d in sim.deliveries)


def test_same_seed_same_simulation() -> None:
    config = SimulationConfig(orders=50, fault_rate=0.3, seed=11)
    first, second = simulate(config, START), simulate(config, START)
    assert [d.event for d in first.deliveries] == [d.event for d in second.deliveries]
    assert first.faults == second.faults


def test_replayed_through_the_rules_faults_fire_exactly_their_rule() -> None:
    # Given a simulation with a fault of every kind among healthy, noisy orders
    sim = simulate(SimulationConfig(orders=300, fault_rate=0.25, seed=5), START)
    # When its deliveries are replayed through the projection and the rules
    detections = replay(sim)
    # Then every rule's precision and recall are perfect
    for rule_score in score(sim.faults, detections):
        assert (rule_score.rule, rule_score.precision, rule_score.recall) == (
            rule_score.rule,
            1.0,
            1.0,
        )
    # And the symptoms of the cascades were all found, muted under their cause
    for secondary in score_secondary(sim.faults, detections):
        assert secondary.injected > 0
        assert secondary.detected == secondary.muted == secondary.injected
    # And every faulty order had one card at a time
    cards = cards_per_order(sim.faults, detections)
    assert set(cards) == {1} and cards[1] == len(sim.faulty_orders)


def test_every_cause_and_symptom_pair_of_the_table_has_a_cascade() -> None:
    assert set(CASCADES) == ORDER_INHIBITIONS


def test_cards_are_counted_from_the_records_history() -> None:
    t = [START + timedelta(minutes=m) for m in range(6)]
    # Given a cause loud from 0 to 3 and its symptom opened muted at 1, unmuted at 3
    cause = loud_spans([(t[0], "opened", False), (t[3], "resolved", None)])
    symptom = loud_spans([(t[1], "opened", True), (t[3], "unmuted", None)])
    assert cause == ((t[0], t[3]),) and symptom == ((t[3], None),)
    # Then the order never had two cards at once
    assert most_at_once([*cause, *symptom]) == 1
    # But a symptom opened loud beside its cause makes two
    assert most_at_once([*cause, *loud_spans([(t[1], "opened", False)])]) == 2
    late = Detection("running_late", "O1", t[1], t[1], None, ((t[1], None),))
    first = Detection("venue_not_accepting", "O1", t[0], t[0], None, cause)
    assert cards_per_order([], [late, first]) == Counter()
    from synthetic.order_checks import Fault

    faults = [Fault("venue_not_accepting", "O1", t[0])]
    assert cards_per_order(faults, [late, first]) == Counter({2: 1})


def replay_behind(sim: Simulation, behind: timedelta, tick_s: float = 20.0) -> list[Detection]:
    """As `replay`, but the judging runs `behind` the deliveries (a backlog: every event up to
    now is known, the checks judge at now - behind, through from where they last judged)."""
    config = RulesConfig()
    states: dict[str, OrderState] = {}
    judged: dict[str, datetime] = {}
    dues: dict[str, datetime | None] = {}
    live: dict[str, dict[str, LiveProblem]] = defaultdict(dict)
    records = Records()
    pending = list(sim.deliveries)
    now = sim.deliveries[0].at
    while pending or now <= sim.ends_at + behind:
        while pending and pending[0].at <= now:
            event = parse_lifecycle(pending.pop(0).event)
            states[event.order_id] = apply(states.get(event.order_id), event)
        instant = now - behind
        for order_id, state in states.items():
            steps = check_order_through(
                state,
                live[order_id],
                set(),
                judged.get(order_id),
                instant,
                config,
                now,
                dues.get(order_id),
            )
            judged[order_id], dues[order_id] = instant, steps[-1].due_at
            for step in steps:
                records.apply(order_id, live[order_id], _real(step, live[order_id]), instant)
        now += timedelta(seconds=tick_s)
    return records.detections()


def _real(judgement: Any, live: dict[str, LiveProblem]) -> Any:
    """The step with placeholder ids replaced by the ids the replay gave (as the store does)."""
    return replace(
        judgement,
        updated=tuple(replace(u, problem_id=live[u.rule].problem_id) for u in judgement.updated),
        ended=tuple(replace(e, problem_id=live[e.rule].problem_id) for e in judgement.ended),
    )


def test_an_order_found_only_after_its_trouble_ended_is_counted_apart() -> None:
    from synthetic.order_checks import Fault, found_after_it_ended

    t = [START + timedelta(minutes=m) for m in range(50)]
    # Given O1 running late from minute 0 to 30, judged only at 47 behind a backlog: its record
    # opened and resolved in that one judgement; and O2 with a card from 1 to 5
    over = loud_spans([(t[47], "opened", False), (t[47], "resolved", None)])
    found = [
        Detection("running_late", "O1", t[0], t[47], None, over),
        Detection("running_late", "O2", t[1], t[1], None, ((t[1], t[5]),)),
    ]
    faults = [Fault("running_late", "O1", t[0]), Fault("running_late", "O2", t[1])]
    # Then O1 is found after its trouble ended (never a card), O2 had one card
    assert found_after_it_ended(faults, found) == 1
    assert cards_per_order(faults, found) == Counter({1: 1})
    # And an order with such a record beside a card still counts its card
    found.append(Detection("courier_stuck", "O2", t[2], t[9], None, over))
    assert cards_per_order(faults, found) == Counter({1: 1})
    assert found_after_it_ended(faults, found) == 1
    # And an order whose record opened loud and was muted by its venue's problem at once is
    # held by the venue's card: one card, not found after it ended
    held = loud_spans([(t[3], "opened", False), (t[3], "muted", True), (t[9], "resolved", None)])
    found.append(Detection("venue_not_accepting", "O3", t[0], t[3], "venue_struggling", held))
    faults.append(Fault("venue_not_accepting", "O3", t[0]))
    assert cards_per_order(faults, found) == Counter({1: 2})
    assert found_after_it_ended(faults, found) == 1


@pytest.mark.parametrize("tick_s", [20.0, 300.0])
def test_judged_ten_minutes_behind_the_news_every_fault_is_still_found(tick_s: float) -> None:
    # Given a simulation whose events are all known ten minutes before the checks judge them
    # (a backlog: conditions begin and end within what is already known), judged every 20 s
    # or only every 5 minutes (a timer and the event that ends it in one sweep's window)
    sim = simulate(SimulationConfig(orders=300, fault_rate=0.25, seed=5), START)
    detections = replay_behind(sim, timedelta(minutes=10), tick_s)
    # Then every per-order rule's precision and recall are perfect all the same
    for rule_score in score(sim.faults, detections):
        if rule_score.rule != "venue_struggling":  # venues are not judged in this replay
            assert (rule_score.rule, rule_score.precision, rule_score.recall) == (
                rule_score.rule,
                1.0,
                1.0,
            )
    # And the symptoms were found under their causes
    for secondary in score_secondary(sim.faults, detections):
        assert secondary.detected == secondary.muted == secondary.injected
