"""The image's install steps are `infra/install.sh`, which the Dockerfile runs; here the same
script installs larder into a fresh virtualenv (no Docker daemon on this machine), and the
installed entry point answers. The Dockerfile is checked for what the image must be: a pinned
base, the install script and nothing else doing the install, a non-root user, no build tools
in the final stage."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.support.paths import ROOT

DOCKERFILE = ROOT / "infra" / "Dockerfile"


def stages() -> list[list[str]]:
    """The Dockerfile's instructions per stage (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    found: list[list[str]] = [[]]
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("FROM ") and found[-1] and any(s.startswith("FROM ") for s in found[-1]):
            found.append([])
        found[-1].append(line)
    return found


def test_the_dockerfile_is_pinned_non_root_and_installs_with_the_script() -> None:
    text = DOCKERFILE.read_text()
    # Given the base image argument and the stages
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, flags=re.MULTILINE)
    assert base is not None
    # Then the base is pinned to a patch release of a slim image
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base.group(1))
    build, final = stages()[-2], stages()[-1]
    # And the build stage installs with infra/install.sh only
    runs = [line for line in build if line.startswith("RUN ")]
    assert runs == ["RUN sh infra/install.sh /opt/larder /src"]
    # And the final stage copies the virtualenv, runs as a numeric non-root user, and installs
    # no build tools
    assert "COPY --from=build /opt/larder /opt/larder" in final
    user = next(line for line in final if line.startswith("USER "))
    assert re.fullmatch(r"USER [1-9]\d*:[1-9]\d*", user)
    assert not re.search(r"apt-get|gcc|build-essential|pip install", " ".join(final))


def build_context(target: Path) -> None:
    """What the Dockerfile's build stage COPYs, copied into `target` the same way."""
    for line in stages()[-2]:
        if not line.startswith("COPY ") or "--from" in line:
            continue
        *sources, dest = line.split()[1:]
        for source in sources:
            origin = ROOT / source
            place = target / dest / origin.name if dest.endswith("/") else target / dest
            place.parent.mkdir(parents=True, exist_ok=True)
            if origin.is_dir():
                shutil.copytree(origin, place, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(origin, place)


def test_the_install_script_installs_a_working_larder_into_a_fresh_virtualenv(
    tmp_path: Path,
) -> None:
    # Given a fresh virtualenv path and, as the source, what the Dockerfile copies
    venv, source = tmp_path / "venv", tmp_path / "src"
    build_context(source)
    # When the image's install script runs, as the Dockerfile runs it
    done = subprocess.run(
        ["sh", str(source / "infra" / "install.sh"), str(venv), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    # Then it succeeds, and the entry point lists every process the image runs
    assert done.returncode == 0, done.stdout + done.stderr
    help_text = subprocess.run(
        [str(venv / "bin" / "larder"), "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("worker", "scheduler", "serve", "db", "health", "dlq"):
        assert f"  {command} " in help_text, command
    # And the migrations ship inside the package (the release step needs them)
    found = installed(venv, "import store.migrate as m; print(m.MIGRATIONS)")
    assert (Path(found) / "versions" / "0001_initial.py").exists()
    # And so do the support console's page and assets (`larder serve` at /inbox)
    console = installed(venv, "import programs.http.console as c; print(c.HERE)")
    for asset in ("templates/inbox.html", "static/console.js", "static/console.css"):
        assert (Path(console) / asset).exists(), asset


def installed(venv: Path, code: str) -> str:
    """What `code` prints, run by the virtualenv's Python."""
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()
