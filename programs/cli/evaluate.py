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


@evaluate.command("banners")
@click.option(
    "--logs",
    "logs",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A log of impressions with propensities (Open Bandit Dataset CSV columns); repeatable.",
)
@click.option(
    "--export",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write larder's own banner impressions (from the database) as such a log, and stop.",
)
@click.option("--train-fraction", default=4 / 7, show_default=True, type=click.FloatRange(0.1, 0.9))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True)
def banners(
    logs: tuple[Path, ...], export: Path | None, train_fraction: float, seed: int, as_json: bool
) -> None:
    """Off-policy estimates (replay, IPS, clipped IPS, SNIPS, 95 % intervals) of larder's
    banners policy, trained on the logs' earlier days, on their later days, beside the uniform
    policy and the logging policy; and the logging policy's self-consistency on each log."""
    import json

    from programs import evaluate_banners as run

    if export is not None:
        from store.recs import personal
        from workers.broker import database

        with database.unit_of_work(single_statement=True) as uow:
            rows = personal.banner_impression_log(uow.connection)
        click.echo(f"wrote {run.write_log(export, rows)} impressions to {export}")
        return
    if not logs:
        raise click.UsageError("give --logs FILE (repeatable), or --export FILE")
    report = run.evaluate(logs, train_fraction, seed)
    click.echo(json.dumps(report, indent=2, default=str) if as_json else run.text(report))
