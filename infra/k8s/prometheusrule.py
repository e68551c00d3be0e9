"""Writes infra/k8s/base/prometheusrule.yaml: the alert rules of infra/prometheus/alerts.yml
wrapped as a Prometheus-operator PrometheusRule (one source for both). `--check` exits 1 when
the file is stale (a test runs it). Usage: python infra/k8s/prometheusrule.py [--check]"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

INFRA = Path(__file__).resolve().parents[1]
SOURCE = INFRA / "prometheus" / "alerts.yml"
TARGET = INFRA / "k8s" / "base" / "prometheusrule.yaml"


def render() -> str:
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "larder",
            "labels": {"app.kubernetes.io/name": "larder", "role": "alert-rules"},
        },
        "spec": yaml.safe_load(SOURCE.read_text()),
    }
    header = (
        "# Generated from infra/prometheus/alerts.yml by infra/k8s/prometheusrule.py: edit that.\n"
    )
    return header + yaml.safe_dump(rule, sort_keys=False, width=100)


def main() -> int:
    wanted = render()
    if "--check" in sys.argv:
        if not TARGET.exists() or TARGET.read_text() != wanted:
            print(f"{TARGET} is stale: run python infra/k8s/prometheusrule.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(wanted)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
