"""The Kubernetes manifests, validated offline as CI does: `kubectl kustomize` builds every
overlay, core objects validate against the Kubernetes schemas (kubernetes-validate, strict),
KEDA and Prometheus-operator objects against their vendored CRD schemas (strict); and the
objects say what the pools table (workers/pools.py) says."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from tests.unit.infra.manifests import (
    KUBERNETES_VERSION,
    OVERLAYS,
    build,
    crd_schema,
    env,
    objects,
)
from workers import queues
from workers.pools import POOLS

CUSTOM = ("keda.sh/", "monitoring.coreos.com/")


def validate(doc: dict[str, Any]) -> None:
    if doc["apiVersion"].startswith(CUSTOM):
        jsonschema.Draft7Validator(crd_schema(doc["apiVersion"], doc["kind"])).validate(doc)
    else:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_builds_and_every_object_validates(overlay: str) -> None:
    # Given the overlay built by kubectl kustomize
    docs = build(overlay)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "ScaledObject", "PrometheusRule", "PodMonitor", "Job"} <= kinds
    # When each object is validated against its schema, Then none fails
    for doc in docs:
        validate(doc)


@pytest.mark.parametrize(
    ("kind", "path", "typo"),
    [
        ("Deployment", ("spec", "template", "spec"), "terminationGracePeriodSecond"),
        ("ScaledObject", ("spec",), "minReplicas"),
        ("PrometheusRule", ("spec", "groups", 0, "rules", 0), "exprs"),
    ],
)
def test_a_misspelt_field_fails_validation(kind: str, path: tuple[Any, ...], typo: str) -> None:
    # Given a valid object of the kind, with a misspelt field added
    doc = copy.deepcopy(next(d for d in build(OVERLAYS[0]) if d["kind"] == kind))
    target = doc
    for step in path:
        target = target[step]
    target[typo] = 1
    # When it is validated, Then it fails
    with pytest.raises((kubernetes_validate.ValidationError, jsonschema.ValidationError)):
        validate(doc)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_pool_has_a_probed_bounded_deployment_a_pdb_and_a_scaled_object(overlay: str) -> None:
    # Given the built overlay
    docs = build(overlay)
    deployments, pdbs = objects(docs, "Deployment"), objects(docs, "PodDisruptionBudget")
    scaled = objects(docs, "ScaledObject")
    for pool in POOLS.values():
        name = f"larder-{pool.name}"
        # Then the pool's Deployment runs `larder worker POOL` with requests, limits, probes
        [container] = deployments[name]["spec"]["template"]["spec"]["containers"]
        assert container["args"] == ["worker", pool.name]
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert {"cpu", "memory"} <= set(container["resources"]["limits"])
        assert "readinessProbe" in container and "livenessProbe" in container
        # And a PDB selects its pods
        labels = deployments[name]["spec"]["selector"]["matchLabels"]
        assert pdbs[name]["spec"]["selector"]["matchLabels"] == labels
        # And KEDA scales it on each of its queues' length, over the management API (so
        # unacknowledged messages count), with an activation value and a damped HPA
        spec = scaled[name]["spec"]
        assert spec["scaleTargetRef"]["name"] == name
        triggers = {t["metadata"]["queueName"]: t["metadata"] for t in spec["triggers"]}
        assert set(triggers) == set(pool.queues)  # production queues: no prefix
        for meta in triggers.values():
            assert meta["protocol"] == "http" and meta["mode"] == "QueueLength"
            assert int(meta["activationValue"]) >= 1 and int(meta["value"]) >= 1
        behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 120


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_referenced_never_defined(overlay: str) -> None:
    # Given the built overlay
    docs = build(overlay)
    # Then it holds no Secret, and every pod reads larder-secrets as files (*_FILE settings)
    assert not [d for d in docs if d["kind"] == "Secret"]
    text = json.dumps(docs)
    assert "postgresql://" not in text and "amqp://" not in text
    for doc in objects(docs, "Deployment").values():
        spec = doc["spec"]["template"]["spec"]
        secrets = [v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v]
        assert secrets == ["larder-secrets"]
        for container in spec["containers"]:
            assert env(container)["DATABASE_URL_FILE"].startswith("/var/run/secrets/larder/")
            assert "DATABASE_URL" not in env(container)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_api_has_a_service_an_hpa_and_probes_on_readyz_and_healthz(overlay: str) -> None:
    docs = build(overlay)
    [container] = objects(docs, "Deployment")["larder-web"]["spec"]["template"]["spec"][
        "containers"
    ]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert objects(docs, "Service")["larder-web"]["spec"]["ports"][0]["targetPort"] == "http"
    hpa = objects(docs, "HorizontalPodAutoscaler")["larder-web"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "larder-web"
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 120
    schedulers = objects(docs, "Deployment")["larder-scheduler"]["spec"]["replicas"]
    assert schedulers >= 2  # several schedulers: each duty still fires once per period


def test_rabbitmq_definitions_declare_every_queue_as_dramatiq_does() -> None:
    # Given the definitions RabbitMQ loads at boot, and Dramatiq's own declarations
    from dramatiq.brokers.rabbitmq import DEAD_MESSAGE_TTL

    docs = build(OVERLAYS[0])
    config = objects(docs, "ConfigMap")
    [rabbit] = [c for name, c in config.items() if name.startswith("larder-rabbitmq")]
    declared = {
        q["name"]: q["arguments"] for q in json.loads(rabbit["data"]["definitions.json"])["queues"]
    }
    # Then every workload's queue, delay queue and dead-letter queue has Dramatiq's arguments
    # exactly (other arguments make Dramatiq's declare fail with PRECONDITION_FAILED)
    for workload in queues.WORKLOADS:
        dead = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": f"{workload}.XQ"}
        assert declared[workload] == dead
        assert declared[f"{workload}.DQ"] == dead
        assert declared[f"{workload}.XQ"] == {"x-message-ttl": DEAD_MESSAGE_TTL}
