"""Security's store: API keys (hashed, scoped, revocable) and the Postgres roles each process
connects as (`store.security.roles`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from domain.security import tokens
from store.security import queries


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    principal: str  # who acts with it: a client, or an agent (the inbox records this name)
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None = None
    digest: str = ""  # of the secret; never the secret itself


def create_key(
    connection: psycopg.Connection[Any], principal: str, scopes: Sequence[str]
) -> tokens.Token:
    """A new key for `principal`; the returned token is the only copy of its secret."""
    token = tokens.new_token()
    params = {
        "key_id": token.key_id,
        "principal": principal,
        "digest": tokens.digest(token.secret),
        "scopes": sorted(set(scopes)),
    }
    connection.execute(queries.CREATE_API_KEY, params)
    return token


def list_keys(connection: psycopg.Connection[Any], include_revoked: bool) -> list[ApiKey]:
    rows = connection.execute(queries.API_KEYS, {"all": include_revoked}).fetchall()
    return [_key(row) for row in rows]


def revoke_key(connection: psycopg.Connection[Any], key_id: str) -> bool:
    """Revoke the key; False when there is no such active key."""
    return connection.execute(queries.REVOKE_API_KEY, {"key_id": key_id}).fetchone() is not None


def active_keys(connection: psycopg.Connection[Any]) -> dict[str, ApiKey]:
    """Every key not revoked, by key id, with its digest (for the HTTP API's snapshot)."""
    rows = connection.execute(queries.API_KEYS, {"all": False}).fetchall()
    return {row[0]: _key(row) for row in rows}


def _key(row: Any) -> ApiKey:
    key_id, principal, scopes, created_at, revoked_at, digest = row
    return ApiKey(key_id, principal, tuple(scopes), created_at, revoked_at, digest)
