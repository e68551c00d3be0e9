"""The alert rules, checked and unit-tested by promtool (Debian's `prometheus` package), and
the Prometheus-operator copy of them in step."""

from __future__ import annotations

import subprocess
import sys

from tests.support import tools
from tests.support.paths import ROOT

PROMETHEUS = ROOT / "infra" / "prometheus"


def test_promtool_checks_the_alert_rules() -> None:
    promtool = tools.require("promtool")
    out = tools.run(promtool, "check", "rules", PROMETHEUS / "alerts.yml")
    assert "SUCCESS" in out


def test_promtool_unit_tests_pass_for_every_alert() -> None:
    # Given the rule unit tests, and every alert the rules define
    import yaml

    promtool = tools.require("promtool")
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    tests = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())
    tested = {
        case["alertname"]
        for test in tests["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    # Then each alert has a test that makes it fire
    assert alerts == tested
    # And promtool passes them all
    out = tools.run(promtool, "test", "rules", "alerts.test.yml", cwd=PROMETHEUS)
    assert "SUCCESS" in out


def test_a_wrong_expectation_fails_promtool(tmp_path: object) -> None:
    # Given the unit tests with one expected label changed
    from pathlib import Path

    promtool = tools.require("promtool")
    scratch = Path(str(tmp_path))
    (scratch / "alerts.yml").write_text((PROMETHEUS / "alerts.yml").read_text())
    text = (PROMETHEUS / "alerts.test.yml").read_text()
    (scratch / "alerts.test.yml").write_text(text.replace("queue: recs}", "queue: events}"))
    # When promtool runs them, Then it fails
    done = subprocess.run(
        [promtool, "test", "rules", "alerts.test.yml"], cwd=scratch, capture_output=True
    )
    assert done.returncode != 0


def test_the_prometheusrule_manifest_carries_the_alert_rules_file() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "k8s" / "prometheusrule.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
