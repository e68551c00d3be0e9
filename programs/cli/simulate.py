"""`larder simulate`: synthetic worlds and simulations with known truths."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from programs.cli.params import AWARE_DATETIME
from programs.cli.text import plural, sent
from workers.settings import get_settings


def fleet_option(help: str) -> Any:
    """`--fleet spawn|running`: where a simulation's events are consumed."""
    choice = click.Choice(["spawn", "running"])
    return click.option(
        "--fleet", "fleet_mode", default="spawn", show_default=True, type=choice, help=help
    )


@click.group()
def simulate() -> None:
    """End-to-end simulations through RabbitMQ."""


@simulate.command("world")
@click.option("--cities", default=3, show_default=True, type=click.IntRange(1, 1000))
@click.option("--venues", default=120, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--items-per-venue", default=25, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--users", default=1000, show_default=True, type=click.IntRange(1, 10_000_000))
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 3650))
@click.option("--seed", "seed_", default=7, show_default=True, type=int)
@click.option(
    "--end",
    type=AWARE_DATETIME,
    help="When the world's history ends (ISO-8601 with an offset, e.g. 2026-01-05T00:00Z)."
    "  [default: now, to the minute]",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the events as JSONL instead of publishing them.",
)
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 1000))
def seed(
    cities: int,
    venues: int,
    items_per_venue: int,
    users: int,
    days: int,
    seed_: int,
    end: datetime | None,
    out: Path | None,
    batch_size: int,
) -> None:
    """Generate a deterministic synthetic world (the same seed and end give the same events)
    whose history runs over the DAYS before END, and publish it through intake."""
    from synthetic.world import WorldConfig, generate, to_the_minute

    config = WorldConfig(
        cities=cities,
        venues=venues,
        items_per_venue=items_per_venue,
        users=users,
        days=days,
        seed=seed_,
        end=end if end is not None else to_the_minute(datetime.now(UTC)),
    )
    if out is not None:
        with out.open("w", encoding="utf-8") as handle:
            count = sum(handle.write(json.dumps(e) + "\n") > 0 for e in generate(config))
        click.echo(f"wrote {plural(count, 'event')} to {out}")
        return
    from workers.broker import broker
    from workers.confirmed import PublishInterrupted, quiet_reconnects
    from workers.publishing import publish as send

    quiet_reconnects()
    try:
        report = send(
            broker, generate(config), batch_size, give_up_s=get_settings().publish_retry_s
        )
    except PublishInterrupted as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"published {sent(report.events, report.messages)}: {report.by_type}")


@simulate.command("orders")
@click.option("--orders", default=1000, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option(
    "--fault-rate",
    default=0.1,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of orders with an injected fault (every rule's kind takes turns).",
)
@click.option(
    "--speed",
    default=60.0,
    show_default=True,
    type=click.FloatRange(1, 600),
    help="Simulated seconds per real second (the checks run on the same scaled clock).",
)
@click.option("--seed", default=7, show_default=True, type=int)
@fleet_option(
    "spawn: start a private worker and scheduler for the run; running: use the fleet already"
    " consuming the configured queues (started with LARDER_CLOCK_SPEED=SPEED): the problems go"
    " into that fleet's database, the configured one."
)
@click.option(
    "--keep-db",
    is_flag=True,
    help="Keep the run's own database afterwards (its URL is printed) to look at its inbox.",
)
@click.option(
    "--database-url",
    help="Run in this database (migrated) instead of one of the run's own.",
)
@click.option(
    "--in-place",
    is_flag=True,
    help="Run in the configured database (DATABASE_URL): its inbox gets the simulated problems.",
)
@click.option("--json", "as_json", is_flag=True)
def simulate_orders(
    orders: int,
    fault_rate: float,
    speed: float,
    seed: int,
    fleet_mode: str,
    keep_db: bool,
    database_url: str | None,
    in_place: bool,
    as_json: bool,
) -> None:
    """Publish realistic order lifecycles (most healthy, some with injected faults, with
    duplicates, out-of-order events, GPS jitter and cancellations), then compare the inbox
    with the injected truth: precision, recall and detection lag per rule.

    The run has a database of its own on the configured server (created, migrated, dropped
    at the end), so the operator's inbox never sees simulated problems."""
    _check_database_options(fleet_mode, keep_db, database_url, in_place)
    if fleet_mode == "spawn":
        options = ["--orders", str(orders), "--fault-rate", str(fault_rate), "--seed", str(seed)]
        if in_place:
            database_url = get_settings().database_url.get_secret_value()
        options += ["--json"] if as_json else []
        _simulate_with_own_fleet(speed, options, database_url, keep_db)
        return
    from programs import simulate_orders as sim
    from synthetic.order_checks import SimulationConfig
    from workers import clock
    from workers.broker import broker, database
    from workers.queues import ORDER_CHECKS, name

    running = clock.current()
    if running.speed != speed:
        raise click.UsageError(
            f"the fleet's clock runs at {running.speed:g}x (LARDER_CLOCK_SPEED); start it and"
            f" this command with LARDER_CLOCK_SPEED={speed:g}, or use --fleet spawn"
        )
    config = sim.private_run(SimulationConfig(orders=orders, fault_rate=fault_rate, seed=seed))
    echo = (lambda _: None) if as_json else click.echo
    outcome = sim.run(config, broker, database, running, name(ORDER_CHECKS), echo=echo)
    _simulation_report(outcome, as_json)


def _check_database_options(
    fleet_mode: str, keep_db: bool, database_url: str | None, in_place: bool
) -> None:
    if in_place and database_url:
        raise click.UsageError("--in-place and --database-url both say where to run: pick one")
    if keep_db and (in_place or database_url):
        raise click.UsageError("--keep-db keeps the run's own database: it has none here")
    if fleet_mode == "running" and (keep_db or database_url):
        raise click.UsageError(
            "--fleet running writes into the running fleet's database (the configured one);"
            " --keep-db and --database-url need --fleet spawn"
        )


def _simulate_with_own_fleet(
    speed: float, options: list[str], database_url: str | None, keep: bool
) -> None:
    """Run this same command with --fleet running, beside a private fleet on a scaled clock,
    all of it in `database_url`, or (None) in a database of the run's own."""
    import uuid

    from programs import simulate_orders as sim
    from store.server import without_password

    run = uuid.uuid4().hex[:6]
    if database_url is not None:
        _require_migrated_database(database_url)
        _require_no_scheduler(database_url, speed)
        click.echo(f"running in the database {without_password(database_url)}", err=True)
        sys.exit(_run_beside_a_fleet(speed, options, run, database_url))
    configured = get_settings().database_url.get_secret_value()
    try:
        with sim.own_database(configured, run, keep=keep) as url:
            shown = without_password(url)
            click.echo(f"running in a database of its own: {shown}", err=True)
            code = _run_beside_a_fleet(speed, options, run, url)
    except sim.NoDatabase as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{'kept' if keep else 'dropped'} the run's database: {shown}", err=True)
    sys.exit(code)


def _run_beside_a_fleet(speed: float, options: list[str], run: str, database_url: str) -> int:
    """The simulation in a child process, its private fleet (worker, scheduler) beside it, all
    on the run's queues, clock and database; the child's exit code."""
    import os
    import shutil
    import subprocess

    from programs import simulate_orders as sim

    settings = get_settings()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LARDER_QUEUE_PREFIX": f"{settings.queue_prefix}sim{run}.",
        "LARDER_CLOCK_SPEED": f"{speed:g}",
        "LARDER_CLOCK_EPOCH": datetime.now(UTC).isoformat(),
    }
    env.pop("DATABASE_URL_FILE", None)  # it would win over DATABASE_URL
    command = [sys.executable, "-m", "programs.cli", "simulate", "orders", *options]
    command += ["--speed", f"{speed:g}", "--fleet", "running"]
    click.echo(f"starting a fleet for the run (queues {env['LARDER_QUEUE_PREFIX']}*)", err=True)
    with sim.fleet(env, settings.rabbitmq_url.get_secret_value()) as scratch:
        code = subprocess.run(command, env=env, check=False).returncode
    if code == 0:
        shutil.rmtree(scratch, ignore_errors=True)
    else:
        click.echo(f"the fleet's log: {scratch / 'fleet.log'}", err=True)
    return code


def _require_migrated_database(url: str) -> None:
    """Fail before a run starts, not after it, when the checks would have nowhere to write."""
    from store.server import schema_problem

    reason = schema_problem(url, "order_problems")
    if reason is not None:
        raise click.ClickException(
            f"the database is not ready for the order checks ({reason}): run `larder db upgrade`"
        )


def _require_no_scheduler(url: str, speed: float) -> None:
    """Fail before a run starts when a scheduler already leads the order checks' duties on
    the database: it would sweep the run's orders on its own clock, not the run's."""
    import actors.order_checks  # noqa: F401  (registers the capability's duties)
    from store.scheduling import led_elsewhere
    from workers.scheduling import registered

    led = led_elsewhere(url, [duty.name for duty in registered(only=["order_checks"])])
    if led:
        raise click.ClickException(
            f"a scheduler already leads {', '.join(led)} on this database: it would judge the"
            f" run's orders on its own clock, not the run's {speed:g}x one. Stop it (or its"
            " `honcho start ... scheduler`), run in a database of the run's own (without"
            " --in-place or --database-url), or start the fleet with"
            f" LARDER_CLOCK_SPEED={speed:g} and pass --fleet running"
        )


def _simulation_report(outcome: Any, as_json: bool) -> None:
    from synthetic.order_checks import (
        cards_per_order,
        found_after_it_ended,
        missed,
        one_card_per_order,
        report,
        report_secondary,
        score_secondary,
    )

    bar = 0.95
    faults, detections = outcome.simulation.faults, outcome.detections
    secondary = score_secondary(faults, detections)
    cards = cards_per_order(faults, detections)
    over = found_after_it_ended(faults, detections)
    passed = all(s.precision >= bar and s.recall >= bar for s in outcome.scores)
    passed = passed and all(s.recall >= bar for s in secondary) and one_card_per_order(cards)
    if as_json:
        rows = [
            {
                "rule": s.rule,
                "injected": s.injected,
                "detected": s.detected,
                "precision": s.precision,
                "recall": s.recall,
                "lag_p50_s": None if s.lag(0.5) is None else s.lag(0.5) / outcome.speed,
                "lag_p95_s": None if s.lag(0.95) is None else s.lag(0.95) / outcome.speed,
                **{
                    f"{name}_p95_s": None if lag is None else lag / outcome.speed
                    for name, lag in (
                        ("backlog", s.lag(0.95, "backlog_s")),
                        ("rule_lag", s.lag(0.95, "rule_lags_s")),
                    )
                },
            }
            for s in outcome.scores
        ]
        wrong = missed(faults, detections)
        muted = [
            {
                "rule": s.rule,
                "cause": s.cause,
                "injected": s.injected,
                "detected": s.detected,
                "muted_by_cause": s.muted,
            }
            for s in secondary
        ]
        found = {
            "secondary": muted,
            "cards_per_order": {str(n): cards[n] for n in sorted(cards)},
            "found_after_it_ended": over,
        }
        click.echo(
            json.dumps({"passed": passed, "rules": rows, **found, **wrong}, default=str, indent=2)
        )
    else:
        click.echo(report(outcome.scores, outcome.speed))
        click.echo(
            f"(lag: from `since` to the record opening, in real seconds at {outcome.speed:g}x;"
            " backlog: how far behind now the rules judged when they found it (the workers'"
            " backlog); rule lag: from `since` to that instant (the rule's own)\n"
        )
        click.echo(report_secondary(secondary, cards, over))
        for kind, keys in missed(faults, detections).items():
            if keys:
                click.echo(f"{kind}: {keys[:20]}")
        click.echo(
            f"{'PASS' if passed else 'FAIL'}: precision and recall >= {bar} for every rule,"
            " symptoms found, one card per faulty order"
        )
    if not passed:
        sys.exit(1)


@simulate.command("banners")
@click.option("--users", default=300, show_default=True, type=click.IntRange(10, 100_000))
@click.option("--venues", default=40, show_default=True, type=click.IntRange(5, 10_000))
@click.option("--rounds", default=24, show_default=True, type=click.IntRange(3, 10_000))
@click.option("--seed", default=7, show_default=True, type=int)
@fleet_option(
    "spawn: a database of the run's own and a private worker (events and recs queues);"
    " running: the configured database and the fleet already consuming the configured queues."
)
@click.option("--keep-db", is_flag=True, help="Keep the run's own database afterwards.")
@click.option("--json", "as_json", is_flag=True)
def simulate_banners(
    users: int, venues: int, rounds: int, seed: int, fleet_mode: str, keep_db: bool, as_json: bool
) -> None:
    """Banners against known truths, through RabbitMQ, intake and the refresh actor: the
    personalised policy's click-through and cumulative regret beside random ordering, a global
    Thompson sampler and the oracle, round by round; a good and a bad banner added mid-run."""
    options = ["--users", str(users), "--venues", str(venues), "--rounds", str(rounds)]
    options += ["--seed", str(seed)] + (["--json"] if as_json else [])
    if fleet_mode == "spawn":
        sys.exit(_banners_beside_a_fleet(options, keep_db))
    from programs import simulate_banners as sim
    from workers.broker import broker, database

    echo = (lambda _: None) if as_json else click.echo
    config = sim.BannerSimConfig(users=users, venues=venues, rounds=rounds, seed=seed)
    report = sim.run(config, broker, database, echo=echo)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(
            f"CTR over the run {report['ctr']}; personalised / oracle {report['ratio_to_oracle']}"
            f" (last round {report['last_round_ratio_to_oracle']}); lift over global"
            f" {report['lift_over_global']}; mid-run {report['mid_run']};"
            f" median seconds per round {report['seconds_p50']}"
        )
        click.echo(f"{'PASS' if report['passed'] else 'FAIL'}: {report['checks']}")
    if not report["passed"]:
        sys.exit(1)


def _banners_beside_a_fleet(options: list[str], keep: bool) -> int:
    """This command with --fleet running, in a database of the run's own, beside a private
    worker on the run's queues (events, recs)."""
    import os
    import subprocess
    import uuid

    from programs import simulate_orders as fleets
    from store.server import without_password
    from workers.queues import EVENTS, RECS

    settings = get_settings()
    run = uuid.uuid4().hex[:6]
    configured = settings.database_url.get_secret_value()
    try:
        with fleets.own_database(configured, run, keep=keep) as url:
            click.echo(f"running in a database of its own: {without_password(url)}", err=True)
            env = {
                **os.environ,
                "DATABASE_URL": url,
                "LARDER_QUEUE_PREFIX": f"{settings.queue_prefix}simb{run}.",
                "LARDER_BANNER_STATS_MAX_AGE_S": "0.2",
                "LARDER_LOG_LEVEL": "WARNING",
            }
            env.pop("DATABASE_URL_FILE", None)
            command = [sys.executable, "-m", "programs.cli", "simulate", "banners", *options]
            rabbitmq = settings.rabbitmq_url.get_secret_value()
            with fleets.fleet(env, rabbitmq, queues=(EVENTS, RECS), duties=None) as scratch:
                code = subprocess.run([*command, "--fleet", "running"], env=env, check=False)
            if code.returncode != 0:
                click.echo(f"the fleet's log: {scratch / 'fleet.log'}", err=True)
            return code.returncode
    except fleets.NoDatabase as error:
        raise click.ClickException(str(error)) from None
