"""One card per order: a cause mutes its symptoms while open (pure; `Rule.mutes`)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from domain.order_checks import rules
from domain.order_checks.checks import LiveProblem, check_order
from domain.order_checks.projection import fold
from domain.order_checks.rules import BY_NAME, INHIBITS, ORDER_CAUSES, RulesConfig
from tests.support.order_events import accepted, at, created, event

UNACCEPTED = [created(1, 0), event("payment.authorized", 2, 1)]  # paid at 1, never accepted
UNPAID = [created(1, 0), event("payment.failed", 2, 1)]


def live(
    rule: str, problem_id: int, minute: float, muted: bool = False, resolved: bool = False
) -> LiveProblem:
    return LiveProblem(problem_id, rule, "warning", muted, at(minute), resolved)


def test_the_rules_table_says_which_rules_cause_which() -> None:
    assert INHIBITS["venue_not_accepting"] == {"running_late"}
    assert INHIBITS["payment_pending"] == {"running_late"}
    assert INHIBITS["venue_struggling"] == {"venue_not_accepting"}
    assert {"venue_not_accepting", "payment_pending"} == ORDER_CAUSES


@pytest.mark.parametrize(
    ("events", "cause"), [(UNACCEPTED, "venue_not_accepting"), (UNPAID, "payment_pending")]
)
def test_a_late_order_opens_muted_under_its_cause(events: list, cause: str) -> None:
    # Given an order stuck before the kitchen long enough to be late as well
    judgement = check_order(fold(events), {}, set(), at(30), RulesConfig())
    # Then both open, the cause loud and running_late muted by it
    opened = {o.rule: o for o in judgement.opened}
    assert set(opened) == {cause, "running_late"}
    assert not opened[cause].muted and opened[cause].muted_by is None
    late = opened["running_late"]
    assert late.muted and late.muted_by == cause and late.details["muted_by"] == [cause]


def test_the_symptom_becomes_the_card_when_its_cause_clears() -> None:
    # Given the cause and its muted symptom open
    records = {
        "venue_not_accepting": live("venue_not_accepting", 1, 6),
        "running_late": live("running_late", 2, 23, muted=True),
    }
    # When the venue accepts at 31 (the order is still late: ready at 46, delivery ~63)
    state = fold([*UNACCEPTED, accepted(3, 31, ready_minute=46)])
    judgement = check_order(state, records, set(), at(31), RulesConfig())
    # Then the cause ends and running_late is unmuted: it is the order's card now
    assert [e.rule for e in judgement.ended] == ["venue_not_accepting"]
    (late,) = judgement.updated
    assert late.rule == "running_late" and not late.muted and late.changes == ("unmuted",)
    assert "muted_by" not in late.details


def test_a_cause_an_agent_resolved_no_longer_mutes() -> None:
    records = {
        "venue_not_accepting": live("venue_not_accepting", 1, 6, resolved=True),
        "running_late": live("running_late", 2, 23, muted=True),
    }
    judgement = check_order(fold(UNACCEPTED), records, set(), at(30), RulesConfig())
    (late,) = [u for u in judgement.updated if u.rule == "running_late"]
    assert not late.muted and late.changes == ("unmuted",)


def test_venue_and_order_causes_go_through_one_mechanism() -> None:
    # Given a struggling venue: the order's venue_not_accepting is muted by the venue, and
    # still mutes the order's running_late
    judgement = check_order(fold(UNACCEPTED), {}, {"venue_struggling"}, at(30), RulesConfig())
    opened = {o.rule: o for o in judgement.opened}
    assert opened["venue_not_accepting"].muted_by == "venue_struggling"
    assert opened["running_late"].muted_by == "venue_not_accepting"


def test_a_symptom_that_is_a_cause_itself_is_refused() -> None:
    chain = replace(BY_NAME["running_late"], mutes=frozenset({"no_courier"}))
    with pytest.raises(ValueError, match="cause itself"):
        rules._check_table(tuple(chain if r.name == "running_late" else r for r in rules.RULES))
    with pytest.raises(ValueError, match="only other per-order"):
        selfish = replace(BY_NAME["no_courier"], mutes=frozenset({"no_courier"}))
        rules._check_table(tuple(selfish if r.name == "no_courier" else r for r in rules.RULES))
