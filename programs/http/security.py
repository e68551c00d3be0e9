"""Who may call the HTTP API, and how much: API keys with scopes (a FastAPI dependency giving
the authenticated principal), rate limits per key, and a cap on request bodies.

    Authorization: Bearer lk_<key id>_<secret>        (`larder keys create`)

Every failure to authenticate answers the same 401 (no key, a malformed one, an unknown,
revoked or wrong one): a caller learns nothing about which keys exist. A key without the
endpoint's scope gets 403; a key over its rate, 429 with Retry-After. Keys are read from the
API's own role (`api_keys`) into a per-process snapshot, reloaded every few seconds and when an
unknown key id comes (at most once a second): a new key works within a second, a revoked one
stops within the refresh interval (LARDER_API_KEY_REFRESH_S, 5 s).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.security import tokens
from domain.security.rates import RateLimits, retry_after
from domain.security.scopes import INBOX_ACT, INBOX_READ, LISTS_READ
from domain.security.scopes import Scope as ApiScope
from store import security as keys
from store.db import Database

UNAUTHENTICATED = "missing or invalid credentials (Authorization: Bearer <API key>)"
_NO_DIGEST = tokens.digest("")  # compared against when the key id is unknown: same work


class ErrorOut(BaseModel):
    """An error: `detail` says what went wrong."""

    detail: str


def errors(*codes: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the given status codes, with their meaning here (or as
    `described`, by code: `errors(401, e404="No such record.")`)."""
    meaning = {
        401: "Missing or invalid credentials.",
        403: "The key lacks this endpoint's scope.",
        404: "Not found.",
        409: "Conflict with the record's state.",
        413: "The request body is too large.",
        429: "Over the key's rate limit; retry after `Retry-After` seconds.",
        503: "The database is unavailable; retry.",
    }
    meaning.update({int(name[1:]): text for name, text in described.items()})
    wanted = sorted({*codes, *(int(name[1:]) for name in described)})
    return {code: {"model": ErrorOut, "description": meaning[code]} for code in wanted}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's principal (a client or an agent), or `anonymous` where the
    read API is open."""

    name: str
    key_id: str | None
    scopes: frozenset[str]


class KeySnapshot:
    """The active API keys, by key id, reloaded from the store every `refresh_s` seconds."""

    def __init__(self, database: Database, refresh_s: float) -> None:
        self.database = database
        self.refresh_s = refresh_s
        self._keys: dict[str, keys.ApiKey] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def find(self, token: tokens.Token) -> keys.ApiKey | None:
        now = time.monotonic()
        if now - self._loaded_at > self.refresh_s:
            self._reload(now)
        key = self._keys.get(token.key_id)
        if key is None and now - self._loaded_at > 1.0:  # perhaps created a moment ago
            self._reload(now)
            key = self._keys.get(token.key_id)
        matched = tokens.matches(token, key.digest if key else _NO_DIGEST)
        return key if key is not None and matched else None

    def _reload(self, now: float) -> None:
        with self._lock:
            if now - self._loaded_at <= min(1.0, self.refresh_s):
                return  # another thread just did
            with self.database.unit_of_work(single_statement=True) as uow:
                self._keys = keys.active_keys(uow.connection)
            self._loaded_at = time.monotonic()


class Access:
    """The API's access policy, set on the app as `app.state.access`; endpoints declare what
    they need with the annotations below (`ReadsLists`, `ReadsInbox`, `ActsOnInbox`)."""

    def __init__(self, snapshot: KeySnapshot, limits: RateLimits, open_reads: bool) -> None:
        self.snapshot = snapshot
        self.limits = limits
        self.open_reads = open_reads

    def authorize(
        self,
        request: Request,
        credentials: HTTPAuthorizationCredentials | None,
        scope: ApiScope,
        open_when_reads_are: bool,
    ) -> Principal:
        """The authenticated principal holding `scope` (else 401/403/429). With
        `open_when_reads_are`, a caller without credentials passes as `anonymous` where the
        read API is open (LARDER_API_OPEN_READS)."""
        if credentials is None and open_when_reads_are and self.open_reads:
            host = request.client.host if request.client else "-"
            anonymous = Principal("anonymous", None, frozenset())
            return self._within_rate(anonymous, f"anonymous@{host}")
        found = self._authenticate(credentials)
        if scope.name not in found.scopes:
            raise HTTPException(403, f"this key lacks the scope {scope.name}")
        return self._within_rate(found, found.key_id or "")

    def _authenticate(self, credentials: HTTPAuthorizationCredentials | None) -> Principal:
        token = tokens.parse(credentials.credentials) if credentials else None
        key = self.snapshot.find(token) if token else None
        if key is None:
            raise HTTPException(401, UNAUTHENTICATED, headers={"WWW-Authenticate": "Bearer"})
        return Principal(key.principal, key.key_id, frozenset(key.scopes))

    def _within_rate(self, principal: Principal, caller: str) -> Principal:
        wait = self.limits.take(caller, time.monotonic())
        if wait is not None:
            raise HTTPException(
                429,
                f"over the rate limit of {self.limits.rate:g} requests/s"
                f" (bursts of {self.limits.burst}) per key",
                headers={"Retry-After": retry_after(wait)},
            )
        return principal


BEARER = HTTPBearer(auto_error=False, description="An API key: `larder keys create`.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]


def authorized(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    scope: ApiScope,
    open_when_reads_are: bool = False,
) -> Principal:
    """The caller, authenticated by the app's `Access`, holding `scope` (else 401/403/429)."""
    access = getattr(request.app.state, "access", None)
    if not isinstance(access, Access):
        raise RuntimeError("the app has no access policy: set app.state.access")
    return access.authorize(request, credentials, scope, open_when_reads_are)


def requires(scope: ApiScope, open_when_reads_are: bool = False) -> Any:
    """A dependency: the caller, authenticated by the app's `Access`, holding `scope`."""

    async def principal(request: Request, credentials: Credentials) -> Principal:
        return authorized(request, credentials, scope, open_when_reads_are)

    return Depends(principal)


ReadsLists = Annotated[Principal, requires(LISTS_READ, open_when_reads_are=True)]
ReadsInbox = Annotated[Principal, requires(INBOX_READ)]
ActsOnInbox = Annotated[Principal, requires(INBOX_ACT)]


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` is refused with 413 before the app
    reads any of it: by its Content-Length, or, streamed without one, by reading it here up
    to the limit (then handing the app what was read)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    await self._too_large(send)
                else:
                    await self.app(scope, receive, send)
                return
        read = await self._read(receive)
        if read is None:
            await self._too_large(send)
            return
        await self.app(scope, _replay(read, receive), send)

    async def _read(self, receive: Receive) -> list[Message] | None:
        """The streamed body's messages, or None once it is over the limit."""
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return None
            if message["type"] != "http.request" or not message.get("more_body"):
                return messages

    async def _too_large(self, send: Send) -> None:
        body = ErrorOut(detail=f"request body over {self.max_bytes} bytes").model_dump_json()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body.encode()})


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed
