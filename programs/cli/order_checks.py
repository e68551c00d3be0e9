"""`larder order-checks`: the rules of the order-problem checks (the inbox: `larder inbox`)."""

from __future__ import annotations

import click


@click.group("order-checks")
def order_checks() -> None:
    """Order-problem checks: the rules (the support inbox is `larder inbox`)."""


@order_checks.command("rules")
def rules() -> None:
    """The rules (the rules table, domain/order_checks/rules.py), as docs/order-checks.md shows
    them."""
    click.echo(rules_table())


def rules_table() -> str:
    """The docs' table of rules, from the rules table (a test keeps docs/order-checks.md in
    step)."""
    from domain.order_checks.rules import RULES

    rows = ["| rule | level | what it means | mutes (while open) |", "|---|---|---|---|"]
    for rule in RULES:
        mutes = ", ".join(f"`{m}`" for m in sorted(rule.mutes)) or "—"
        rows.append(f"| `{rule.name}` | {rule.level} | {rule.explanation} | {mutes} |")
    return "\n".join(rows)
