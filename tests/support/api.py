"""API keys for tests of the HTTP API: a key in the test database, and the header to send."""

from __future__ import annotations

from typing import Any

from domain.security.scopes import SCOPES


def key_for(database: Any, principal: str, *scopes: str) -> str:
    """A new key's token for `principal` (every scope when none is named)."""
    from store.security import create_key

    with database.unit_of_work() as uow:
        return str(create_key(uow.connection, principal, scopes or tuple(SCOPES)))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def keyed(database: Any, principal: str = "test-client", *scopes: str) -> dict[str, str]:
    """The headers of a new key for `principal` (every scope when none is named)."""
    return bearer(key_for(database, principal, *scopes))
