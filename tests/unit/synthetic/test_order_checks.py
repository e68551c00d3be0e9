"""The simulator's lifecycles, replayed through the pure projection and rules (no services):
injected faults fire their rule and nothing else, healthy orders fire nothing."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

from domain.order_checks.checks import LiveProblem, check_order, check_venue
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
    RULES,
    Detection,
    Simulation,
    SimulationConfig,
    score,
    simulate,
)

START = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)


def replay(sim: Simulation, tick_s: float = 20.0) -> list[Detection]:
    """Deliver the events in order and judge every live order and venue each tick, as the
    workers and the sweeps do (without Postgres)."""
    config = RulesConfig()
    states: dict[str, OrderState] = {}
    live: dict[str, dict[str, LiveProblem]] = defaultdict(dict)
    venue_live: dict[int, dict[str, LiveProblem]] = defaultdict(dict)
    outcomes: dict[int, dict[str, VenueOutcome]] = defaultdict(dict)
    found: list[Detection] = []
    pending = list(sim.deliveries)
    now = sim.deliveries[0].at
    ids = iter(range(1, 10**9))
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
            for opening in judged.opened:
                found.append(Detection(opening.rule, order_id, opening.since, now))
                live[order_id][opening.rule] = LiveProblem(
                    next(ids), opening.rule, opening.severity, opening.muted, opening.since
                )
            for ending in judged.ended:
                del live[order_id][ending.rule]
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
            for opening in judged.opened:
                found.append(Detection(opening.rule, venue_id, opening.since, now))
                venue_live[venue_id][opening.rule] = LiveProblem(
                    next(ids), opening.rule, opening.severity, opening.muted, opening.since
                )
            for ending in judged.ended:
                del venue_live[venue_id][ending.rule]
        now += timedelta(seconds=tick_s)
    return found


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
