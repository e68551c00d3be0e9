"""The Grafana dashboard and the alert rules read only documented metrics, in queries that
parse (promql-parser, and promtool as recording rules); the dashboard has a row per
capability. That the metrics really are exported: tests/integration/infra/test_metrics_live.py."""

from __future__ import annotations

import json
import re

import yaml

from tests.support import promql, tools
from tests.support.paths import ROOT

DOCS = ROOT / "docs" / "operations.md"


def documented() -> set[str]:
    return set(re.findall(r"^\| `([a-z_]+)` \|", DOCS.read_text(), flags=re.MULTILINE))


def test_every_metric_the_dashboard_and_alerts_read_is_documented() -> None:
    missing = promql.referenced_families() - documented()
    assert not missing, f"not in docs/operations.md's metrics table: {sorted(missing)}"


def test_every_larder_metric_in_the_code_is_documented() -> None:
    # Given every `larder_*` metric name the code defines
    defined: set[str] = set()
    for path in [
        *ROOT.glob("workers/*.py"),
        *ROOT.glob("actors/**/*.py"),
        *ROOT.glob("programs/**/*.py"),
    ]:
        defined |= set(re.findall(r'"(larder_[a-z_]+)"', path.read_text()))
    defined = {
        n.removesuffix("_total") + ("_total" if n.endswith("_total") else "") for n in defined
    }
    # Then each is a row of the table
    assert defined, "no metric found: the scan is broken"
    assert defined - documented() == set()


def test_the_dashboard_has_a_row_per_capability_and_its_queries_parse() -> None:
    dashboard = json.loads((ROOT / "infra" / "grafana" / "dashboards" / "larder.json").read_text())
    rows = [p["title"].lower() for p in dashboard["panels"] if p["type"] == "row"]
    for capability in ("intake", "recs", "order checks", "dead letters", "read api", "queues"):
        assert any(capability in row for row in rows), capability
    for expression in promql.dashboard_expressions():
        assert promql.metric_names(expression), expression


def test_promtool_parses_every_dashboard_query(tmp_path: object) -> None:
    # Given the dashboard's queries as recording rules (promtool's own PromQL parser)
    from pathlib import Path

    promtool = tools.require("promtool")
    rules = [
        {"record": f"larder:dashboard_query_{n}", "expr": e}
        for n, e in enumerate(promql.dashboard_expressions())
    ]
    path = Path(str(tmp_path)) / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    # Then promtool accepts them all
    assert "SUCCESS" in tools.run(promtool, "check", "rules", path)


def test_promtool_checks_the_compose_prometheus_config() -> None:
    promtool = tools.require("promtool")
    tools.run(promtool, "check", "config", ROOT / "infra" / "prometheus" / "prometheus.yml")
