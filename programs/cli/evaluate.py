"""`larder eval`: offline evaluation of the models on real data."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("eval")
def evaluate() -> None:
    """Offline evaluation: how well a model would have done on logged data."""


@evaluate.command("items")
@click.option(
    "--orders",
    "orders_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Order history CSV (the `larder intake import` format).",
)
@click.option("--json", "as_json", is_flag=True)
def items(orders_file: Path, as_json: bool) -> None:
    """Hold out each user's last order; compare the items model with G-/P-TopFreq."""
    from domain.intake.orders_csv import BadFile
    from domain.recs.evaluation import NothingToEvaluate
    from programs.evaluation import run

    try:
        click.echo(run(orders_file, as_json))
    except (BadFile, NothingToEvaluate) as error:
        raise click.ClickException(f"{orders_file}: {error}") from None
