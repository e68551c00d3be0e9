"""The Postgres server itself: does it answer, is a database migrated, create and drop
databases (`larder db upgrade`, simulations' own databases, the tests' databases)."""

from __future__ import annotations

from urllib.parse import urlsplit

import psycopg
from psycopg import sql

PING = "SELECT 1"
TABLE_ANSWERS = "SELECT 1 FROM {} LIMIT 0"
DATABASE_EXISTS = "SELECT 1 FROM pg_database WHERE datname = %s"
CREATE_DATABASE = "CREATE DATABASE {}"
DROP_DATABASE = "DROP DATABASE IF EXISTS {} WITH (FORCE)"


def postgres_answers(url: str, timeout: int = 2) -> bool:
    try:
        with psycopg.connect(_server_url(url, "postgres"), connect_timeout=timeout) as conn:
            conn.execute(PING)
    except Exception:
        return False
    return True


def schema_problem(url: str, table: str) -> str | None:
    """Why the URL's database cannot serve `table` yet (it does not exist, is not migrated, does
    not answer), or None when it can."""
    try:
        with psycopg.connect(plain_url(url), connect_timeout=3) as conn:
            conn.execute(sql.SQL(TABLE_ANSWERS).format(sql.Identifier(table)))
    except psycopg.Error as error:
        return str(error).strip().splitlines()[0]
    return None


def plain_url(url: str) -> str:
    """A libpq URL (no SQLAlchemy driver suffix)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _server_url(url: str, database: str) -> str:
    """The same server and credentials, another database (for CREATE/DROP DATABASE)."""
    parts = urlsplit(plain_url(url))
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
    return urlsplit(plain_url(url)).path.lstrip("/") or "postgres"


def ensure_database(url: str) -> bool:
    """Create the URL's database if it does not exist; True when it was created."""
    name = database_name(url)
    with psycopg.connect(_server_url(url, "postgres"), autocommit=True) as conn:
        exists = conn.execute(DATABASE_EXISTS, (name,)).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL(CREATE_DATABASE).format(sql.Identifier(name)))
    return True


def drop_database(url: str) -> None:
    name = database_name(url)
    with psycopg.connect(_server_url(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL(DROP_DATABASE).format(sql.Identifier(name)))
