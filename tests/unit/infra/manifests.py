"""The deployment files as the tests read them: built overlays, the Procfile, compose."""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from typing import Any

import yaml

from tests.support import tools
from tests.support.paths import ROOT

K8S = ROOT / "infra" / "k8s"
OVERLAYS = sorted(path.name for path in (K8S / "overlays").iterdir() if path.is_dir())
SCHEMAS = K8S / "schemas"
KUBERNETES_VERSION = "1.32.0"


@cache
def _build(overlay: str) -> str:
    kubectl = tools.require("kubectl", ("kustomize", "--help"))
    done = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True
    )
    assert done.returncode == 0, f"kubectl kustomize {overlay} failed:\n{done.stderr}"
    return done.stdout


def build(overlay: str) -> list[dict[str, Any]]:
    """The overlay's objects, as `kubectl kustomize` builds them (fresh copies)."""
    return [doc for doc in yaml.safe_load_all(_build(overlay)) if doc]


def objects(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    group, version = api_version.split("/")
    path = SCHEMAS / group / f"{kind.lower()}_{version}.json"
    return strict(json.loads(path.read_text()))


def strict(schema: Any) -> Any:
    """The schema with undeclared properties refused (as kubeconform's strict mode does), except
    where the CRD keeps unknown fields."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    found = {k: strict(v) for k, v in schema.items()}
    pattern = found.get("pattern")
    if isinstance(pattern, str) and "(?i)" in pattern[1:]:  # Go's inline flag, mid-pattern
        found["pattern"] = "(?i)" + pattern.replace("(?i)", "")
    if (
        "properties" in found
        and "additionalProperties" not in found
        and not found.get("x-kubernetes-preserve-unknown-fields")
    ):
        found["additionalProperties"] = False
    return found


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {n.strip(): c.strip() for n, _, c in (line.partition(":") for line in lines) if c}


def rabbitmq_conf() -> dict[str, str]:
    text = (K8S / "base" / "rabbitmq" / "rabbitmq.conf").read_text()
    pairs = (line.split("=", 1) for line in text.splitlines() if re.match(r"^\s*[a-z]", line))
    return {k.strip(): v.strip() for k, v in pairs}


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "infra" / "compose.yaml").read_text()))
