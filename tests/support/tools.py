"""Command-line validators the infra tests run (`infra/tools.sh --install` puts them on a
machine; `.ci/run` calls it): missing ones fail the test in CI and skip it loudly elsewhere."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
HINT = "bash infra/tools.sh --install"


def require(tool: str, probe: tuple[str, ...] = ("--version",)) -> str:
    """The tool's path, or a loud skip (a failure in CI)."""
    found = shutil.which(tool)
    problem = None if found else f"{tool} is not installed ({HINT})"
    if found and subprocess.run([found, *probe], capture_output=True).returncode != 0:
        problem = f"{tool} {' '.join(probe)} fails ({HINT})"
    if problem is None:
        return str(found)
    if IN_CI:
        pytest.fail(f"{problem}: CI=true, a missing validator is a failure")
    pytest.skip(f"!!! SKIPPED: {problem}")


def run(*command: str | Path, cwd: Path | None = None) -> str:
    """Run a validator; fail the test with its output when it fails."""
    done = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(map(str, command))} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout
