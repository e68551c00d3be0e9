"""The metric names a PromQL expression reads (promql-parser: Prometheus' grammar)."""

from __future__ import annotations

import json
from typing import Any

import promql_parser
import yaml

from tests.support.paths import ROOT

CHILDREN = ("args", "expr", "lhs", "rhs", "param", "vector_selector")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def metric_names(expression: str) -> set[str]:
    """Every metric an expression selects (raises on a syntax error)."""
    found: set[str] = set()
    _walk(promql_parser.parse(expression), found)
    return found


def _walk(node: Any, found: set[str]) -> None:
    if type(node).__name__ == "VectorSelector":
        found.add(node.name)
        return
    for attribute in CHILDREN:
        value = getattr(node, attribute, None)
        for child in value if isinstance(value, list) else [value]:
            if child is not None and hasattr(child, "prettify"):
                _walk(child, found)


def family(name: str) -> str:
    """The metric family of a sample name (`x_bucket` -> `x`)."""
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((ROOT / "infra" / "grafana" / "dashboards" / "larder.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def alert_expressions() -> list[str]:
    rules = yaml.safe_load((ROOT / "infra" / "prometheus" / "alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def referenced_families() -> set[str]:
    """Metric families the dashboard and the alert rules read."""
    names: set[str] = set()
    for expression in dashboard_expressions() + alert_expressions():
        names |= {family(n) for n in metric_names(expression)}
    return names


def scraped_families(text: str) -> set[str]:
    """Metric families with samples in a /metrics exposition."""
    names = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            names.add(family(line.split("{")[0].split(" ")[0]))
    return {n[: -len("_total")] if n.endswith("_total") else n for n in names} | names
