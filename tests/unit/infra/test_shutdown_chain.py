"""The shutdown chain (workers/pools.py states it): terminationGracePeriodSeconds >= the
worker's shutdown timeout >= the actor time limit < RabbitMQ's consumer_timeout, and the
retry backoff < consumer_timeout, wherever a worker is configured: the settings' defaults,
the Procfile's pools, every Kubernetes overlay and the compose file."""

from __future__ import annotations

import shlex

import pytest

from tests.unit.infra.manifests import (
    OVERLAYS,
    build,
    compose,
    env,
    objects,
    procfile,
    rabbitmq_conf,
)
from workers.pools import (
    ALL,
    POOLS,
    RABBITMQ_CONSUMER_TIMEOUT_S,
    chain_problems,
    dramatiq_argv,
    pool,
)
from workers.settings import Settings


def _shutdown_s(argv: list[str]) -> float:
    return int(argv[argv.index("--worker-shutdown-timeout") + 1]) / 1000


def test_rabbitmq_is_configured_with_the_consumer_timeout_the_chain_assumes() -> None:
    assert int(rabbitmq_conf()["consumer_timeout"]) == RABBITMQ_CONSUMER_TIMEOUT_S * 1000


def test_no_setting_can_break_the_chain_s_last_link() -> None:
    # Given the settings' bounds and defaults (a process reads them without LARDER_ variables)
    fields = Settings.model_fields
    most = {
        name: next(m.le for m in fields[name].metadata if getattr(m, "le", None) is not None)
        for name in ("time_limit_ms", "max_backoff_ms")
    }
    # Then no time limit or backoff the settings accept reaches RabbitMQ's consumer_timeout
    assert most["time_limit_ms"] / 1000 < RABBITMQ_CONSUMER_TIMEOUT_S
    assert most["max_backoff_ms"] / 1000 < RABBITMQ_CONSUMER_TIMEOUT_S
    # And the default time limit (a worker started without `larder worker`) fits the every-queue
    # pool's chain
    settings = Settings()
    assert (
        chain_problems(
            ALL.grace_s,
            ALL.shutdown_timeout_s,
            settings.time_limit_ms / 1000,
            settings.max_backoff_ms / 1000,
        )
        == []
    )


def test_every_procfile_pool_keeps_the_chain() -> None:
    # Given the Procfile's worker lines (`larder worker POOL`)
    lines = {n: shlex.split(c) for n, c in procfile().items() if c.startswith("larder worker")}
    assert {c[2] for c in lines.values()} == {*POOLS, ALL.name}
    for command in lines.values():
        chosen = pool(command[2])
        # When the pool's dramatiq command is built from an empty environment
        argv = dramatiq_argv(chosen, {}, "")
        # Then its shutdown timeout covers its time limit, under the consumer timeout
        shutdown = _shutdown_s(argv)
        assert chain_problems(chosen.grace_s, shutdown, chosen.time_limit_s, 60) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_keeps_the_chain(overlay: str) -> None:
    # Given the overlay's worker Deployments and the max backoff of their config
    docs = build(overlay)
    config = next(c for n, c in objects(docs, "ConfigMap").items() if n.startswith("larder-config"))
    backoff_s = int(config["data"]["LARDER_MAX_BACKOFF_MS"]) / 1000
    for name in POOLS:
        spec = objects(docs, "Deployment")[f"larder-{name}"]["spec"]["template"]["spec"]
        [container] = spec["containers"]
        values = env(container)
        # Then grace >= shutdown timeout >= time limit < consumer_timeout, backoff < it
        problems = chain_problems(
            spec["terminationGracePeriodSeconds"],
            float(values["WORKER_SHUTDOWN_TIMEOUT_S"]),
            int(values["LARDER_TIME_LIMIT_MS"]) / 1000,
            backoff_s,
        )
        assert problems == [], f"{overlay} larder-{name}: {problems}"


def test_every_compose_worker_keeps_the_chain() -> None:
    # Given the compose file's worker services
    services = compose()["services"]
    workers = {n: s for n, s in services.items() if s.get("command", [None])[0] == "worker"}
    assert {s["command"][1] for s in workers.values()} == set(POOLS)
    for service in workers.values():
        chosen = pool(service["command"][1])
        grace_s = int(service["stop_grace_period"].rstrip("s"))
        # Then docker's stop grace covers the pool's shutdown timeout and time limit
        assert chain_problems(grace_s, chosen.shutdown_timeout_s, chosen.time_limit_s, 60) == []


def test_a_broken_chain_is_reported() -> None:
    problems = chain_problems(30, 600, 1200, 3600)
    assert len(problems) == 3


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_and_compose_worker_runs_its_pools_processes_and_threads(
    overlay: str,
) -> None:
    # Given the overlay's worker Deployments and the compose file's worker services
    deployments = objects(build(overlay), "Deployment")
    services = compose()["services"]
    for name, chosen in POOLS.items():
        [container] = deployments[f"larder-{name}"]["spec"]["template"]["spec"]["containers"]
        [service] = [s for s in services.values() if s.get("command") == ["worker", name]]
        # Then each runs the pool table's threads and processes (workers/pools.py), or says
        # nothing and gets them from `larder worker POOL`
        for values in (env(container), service.get("environment", {})):
            threads = values.get("WORKER_THREADS")
            assert threads is None or int(threads) == chosen.threads, (overlay, name)
            processes = values.get("WORKER_PROCESSES")
            if chosen.processes and processes is not None:  # 0: one per core of the node
                assert int(processes) == chosen.processes, (overlay, name)
