"""`larder eval banners` on the Open Bandit Dataset sample (../shared/data/obd): the logging
policies' self-consistency on their own logs, and every estimate reported with its interval."""

from __future__ import annotations

from pathlib import Path

import pytest

from programs import evaluate_banners as run

OBD = Path("/work/shared/data/obd")
LOGS = [OBD / "random/all/all.csv", OBD / "bts/all/all.csv"]


@pytest.fixture(scope="module")
def report() -> dict[str, object]:
    missing = [str(p) for p in LOGS if not p.exists()]
    if missing:
        pytest.skip(f"!!! SKIPPED: the Open Bandit Dataset sample is absent ({missing})")
    return run.evaluate(LOGS)


def test_each_logging_policy_is_consistent_with_its_own_log(report: dict) -> None:
    for name, log in report["logs"].items():
        assert log["self_consistency"]["passed"], (name, log["self_consistency"])
    uniform = report["logs"][str(LOGS[0])]
    assert uniform["uniform_log"] and "replay_uniform" in uniform["self_consistency"]
    assert not report["logs"][str(LOGS[1])]["uniform_log"]


def test_larder_is_estimated_beside_random_and_the_logged_policy_with_intervals(
    report: dict,
) -> None:
    later = report["logs"][str(LOGS[0])]["later_part"]
    assert later["rows"] > 3000
    for policy in ("uniform_random", "larder"):
        for estimator in ("ips", "clipped_ips", "snips", "replay"):
            found = later[policy][estimator]
            low, high = found["ci95"]
            assert low <= found["estimate"] <= high
    # the uniform policy on the uniform log: IPS is the observed click-through exactly
    assert later["uniform_random"]["ips"]["estimate"] == pytest.approx(
        later["logging_policy_observed"]["estimate"]
    )
