"""Only the multiprocess commands (`larder worker`, `larder serve`) use the workers'
PROMETHEUS_MULTIPROC_DIR: any other command run beside them keeps its own registry."""

from __future__ import annotations

import os
from typing import Any

import pytest
from click.testing import CliRunner

from programs.cli import MULTIPROCESS_METRICS, _own_metrics_registry, main


def test_a_cli_job_beside_the_workers_leaves_their_metrics_directory_alone(
    monkeypatch: Any,
) -> None:
    # Given the workers' multiprocess directory in the environment
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/tmp/larder-prometheus-all")
    # When another command runs
    result = CliRunner().invoke(main, ["order-checks", "rules"])
    # Then it ran with its own registry: the variable is gone from its environment
    assert result.exit_code == 0, result.output
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


@pytest.mark.parametrize("command", sorted(MULTIPROCESS_METRICS))
def test_the_multiprocess_commands_keep_it(command: str, monkeypatch: Any) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/tmp/larder-prometheus-all")
    _own_metrics_registry(command)
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == "/tmp/larder-prometheus-all"
