"""`larder simulate`: synthetic worlds and simulations with known truths."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from workers.settings import get_settings


class AwareDateTime(click.ParamType):
    """An ISO-8601 instant that carries its offset (or Z): a naive one is ambiguous."""

    name = "ISO-8601"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not an ISO-8601 date and time", param, ctx)
        if parsed.utcoffset() is None:
            self.fail(f"{value!r} needs an offset or Z (e.g. {value}Z)", param, ctx)
        return parsed


AWARE_DATETIME = AwareDateTime()


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
def seed(
    cities: int,
    venues: int,
    items_per_venue: int,
    users: int,
    days: int,
    seed_: int,
    end: datetime | None,
    out: Path | None,
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
        click.echo(f"wrote {count} events to {out}")
        return
    from workers.broker import broker
    from workers.publishing import publish as send

    report = send(broker, generate(config))
    click.echo(f"published {report.events} events in {report.messages} messages: {report.by_type}")


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
@click.option(
    "--fleet",
    "fleet_mode",
    default="spawn",
    show_default=True,
    type=click.Choice(["spawn", "running"]),
    help="spawn: start a private worker and scheduler for the run; running: use the fleet "
    "already consuming the configured queues (started with LARDER_CLOCK_SPEED=SPEED).",
)
@click.option("--json", "as_json", is_flag=True)
def simulate_orders(
    orders: int, fault_rate: float, speed: float, seed: int, fleet_mode: str, as_json: bool
) -> None:
    """Publish realistic order lifecycles (most healthy, some with injected faults, with
    duplicates, out-of-order events, GPS jitter and cancellations), then compare the inbox
    with the injected truth: precision, recall and detection lag per rule."""
    if fleet_mode == "spawn":
        options = ["--orders", str(orders), "--fault-rate", str(fault_rate), "--seed", str(seed)]
        _simulate_with_own_fleet(speed, options + (["--json"] if as_json else []))
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


def _simulate_with_own_fleet(speed: float, options: list[str]) -> None:
    """Run this same command with --fleet running, beside a private fleet on a scaled clock."""
    import os
    import shutil
    import subprocess
    import uuid
    from datetime import UTC, datetime

    from programs import simulate_orders as sim

    settings = get_settings()
    _require_migrated_database(settings.database_url.get_secret_value())
    env = {
        **os.environ,
        "LARDER_QUEUE_PREFIX": f"{settings.queue_prefix}sim{uuid.uuid4().hex[:6]}.",
        "LARDER_CLOCK_SPEED": f"{speed:g}",
        "LARDER_CLOCK_EPOCH": datetime.now(UTC).isoformat(),
    }
    command = [sys.executable, "-m", "programs.cli", "simulate", "orders", *options]
    command += ["--speed", f"{speed:g}", "--fleet", "running"]
    click.echo(f"starting a fleet for the run (queues {env['LARDER_QUEUE_PREFIX']}*)", err=True)
    with sim.fleet(env, settings.rabbitmq_url.get_secret_value()) as scratch:
        code = subprocess.run(command, env=env, check=False).returncode
    if code == 0:
        shutil.rmtree(scratch, ignore_errors=True)
    else:
        click.echo(f"the fleet's log: {scratch / 'fleet.log'}", err=True)
    sys.exit(code)


def _require_migrated_database(url: str) -> None:
    """Fail before a run starts, not after it, when the checks would have nowhere to write."""
    from workers.services import schema_problem

    reason = schema_problem(url, "order_problems")
    if reason is not None:
        raise click.ClickException(
            f"the database is not ready for the order checks ({reason}): run `larder db upgrade`"
        )


def _simulation_report(outcome: Any, as_json: bool) -> None:
    from synthetic.order_checks import missed, report

    bar = 0.95
    passed = all(s.precision >= bar and s.recall >= bar for s in outcome.scores)
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
            }
            for s in outcome.scores
        ]
        wrong = missed(outcome.simulation.faults, outcome.detections)
        click.echo(json.dumps({"passed": passed, "rules": rows, **wrong}, default=str, indent=2))
    else:
        click.echo(report(outcome.scores, outcome.speed))
        click.echo(
            f"(lag: from `since` to the record opening, in real seconds at {outcome.speed:g}x)"
        )
        for kind, keys in missed(outcome.simulation.faults, outcome.detections).items():
            if keys:
                click.echo(f"{kind}: {keys[:20]}")
        click.echo(f"{'PASS' if passed else 'FAIL'}: precision and recall >= {bar} for every rule")
    if not passed:
        sys.exit(1)
