"""The rules table is the one list of rules: docs, store and simulator read it."""

from __future__ import annotations

from domain.order_checks.rules import INHIBITS, RULES, VENUE_INPUTS, VENUE_RULES
from programs.cli.order_checks import rules_table
from synthetic.order_checks import INJECTORS, NOT_SIMULATED, SCENARIOS
from synthetic.order_checks import RULES as SIMULATED
from tests.support.paths import ROOT


def test_the_docs_show_exactly_the_rules_table() -> None:
    assert rules_table() in (ROOT / "docs" / "order-checks.md").read_text(encoding="utf-8")


def test_inhibition_and_venue_inputs_derive_from_the_table() -> None:
    assert {r.name: r.mutes for r in RULES if r.mutes} == INHIBITS
    assert frozenset().union(*(r.reads for r in VENUE_RULES.values())) == VENUE_INPUTS


def test_the_simulator_injects_the_tables_rules_in_the_tables_order() -> None:
    # Given the rules table / Then the simulator's rules are its rules, in its order
    assert tuple(r.name for r in RULES if r.name in INJECTORS or r.name in SCENARIOS) == SIMULATED
    # And today every rule is simulated: a per-order rule by an injector, a venue rule by a
    # scenario
    assert NOT_SIMULATED == ()
    assert set(INJECTORS) == {r.name for r in RULES if r.level == "order"}
    assert set(VENUE_RULES) == SCENARIOS
