"""`larder simulate banners` at a small size: a world and banners through RabbitMQ and intake,
re-ranks by the refresh actor, reads through the real read path, clicks from known truths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import actors.recs
from programs import simulate_banners as sim
from tests.conftest import scalar


def test_small_simulation_learns_personal_banners_and_judges_new_ones(
    broker: Any, worker: Any, db: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given the workers reload banner statistics at once (production: every 10 s)
    monkeypatch.setattr(actors.recs, "_stats_every_s", lambda: 0.05)
    # When 120 users see banners for 9 rounds, a good and a bad one added at round 3
    config = sim.BannerSimConfig(users=120, venues=30, rounds=9, seed=3)
    report = sim.run(config, broker, db, echo=lambda _: None)
    # Then every policy is reported, round by round, regret accumulating
    assert set(report["ctr"]) == {"personalised", "random", "global", "oracle"}
    assert len(report["rounds"]) == 9 and report["mid_run"]["added_at_round"] == 3
    regrets = [r["personalised"]["regret"] for r in report["rounds"]]
    assert regrets == sorted(regrets)
    # And the learning shows: better than random, below the oracle, the good banner found
    ctr = report["ctr"]
    assert ctr["random"] < ctr["personalised"] <= ctr["oracle"]
    assert report["mid_run"]["good_top_share"] > report["mid_run"]["bad_top_share"]
    # And every impression went through intake with its slot and propensity, counted once
    logged = "SELECT count(*) FROM activity_events WHERE kind = 'impression' AND propensity > 0"
    shown = scalar(db, "SELECT sum(impressions) FROM banner_stats")
    assert scalar(db, logged) == shown > 0
    # And larder's own log evaluates with the same command: exported, the logging policy
    # (larder's, with its propensities) is consistent with what it observed
    from click.testing import CliRunner

    from programs.cli import main

    log = tmp_path / "impressions.csv"
    exported = CliRunner().invoke(main, ["eval", "banners", "--export", str(log)])
    assert exported.exit_code == 0 and f"wrote {shown} impressions" in exported.output
    evaluated = CliRunner().invoke(main, ["eval", "banners", "--logs", str(log), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    found = json.loads(evaluated.output)["logs"][str(log)]
    assert found["self_consistency"]["passed"] and not found["uniform_log"]
    assert set(found["later_part"]) >= {"uniform_random", "larder", "logging_policy_observed"}
