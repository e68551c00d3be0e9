"""The hot read without FastAPI's per-request machinery.

A list read is one sub-millisecond query, and FastAPI around it cost as much again: route
matching through every route, three levels of dependency solving, each path and query parameter
validated by its own pydantic adapter (cProfile under `benchmarks.banners`: two thirds of a
read's profiled time; unprofiled, skipping it saves ~20 % of the server's CPU per read). At
500 requests/s on two cores every fraction of a millisecond spent on one request is a fraction
that the next one may queue behind, so the tail grows with it.

`ListReads` answers the one request shape the read path is made of: `GET
/v1/users/{user_id}/recommendations/{surface}` with a user id in range, a known surface, and at
most `context` and `limit`, once each, as plain numbers in range. It runs what the route runs:
the same bearer-credentials parser, the same access check (`authorized`), the same read and
response (the app's `read_list`), and renders errors with the app's own exception handlers,
so answers are byte for byte the route's. Anything else (other paths and methods, parameters
to validate or reject, a proxy prefix) goes on to FastAPI untouched, which answers it as before.
Request metrics (outside this middleware) see the route's template as for any request.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Container
from typing import Any

import psycopg
import sqlalchemy.exc
from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from domain.security.scopes import LISTS_READ
from programs.http.security import BEARER, authorized

LIST_PATH = "/v1/users/{user_id}/recommendations/{surface}"
_PATH = re.compile(r"/v1/users/([1-9][0-9]{0,18})/recommendations/([a-z_]{1,64})")
_PARAMETER = re.compile(rb"(context|limit)=(0|[1-9][0-9]{0,18})")
# What the route's handlers answer: rendered here by the app's handler for them.
_HANDLED = (
    HTTPException,
    RequestValidationError,
    psycopg.OperationalError,
    sqlalchemy.exc.OperationalError,
)

ReadList = Callable[[int, str, int, int], Response]


class ListReads:
    """ASGI middleware: the plain list read answered by `read(user_id, surface, context,
    limit)` (it raises what the route would); every other request passes to `app`."""

    def __init__(
        self,
        app: ASGIApp,
        read: ReadList,
        surfaces: Container[str],
        max_id: int,
        max_limit: int,
        default_limit: int,
    ) -> None:
        self.app = app
        self.read = read
        self.surfaces = surfaces
        self.max_id = max_id
        self.max_limit = max_limit
        self.default_limit = default_limit
        self._route: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        wanted = self.parse(scope)
        if wanted is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route(scope)  # the request metrics' label, as when routed
        request = Request(scope, receive)
        try:
            credentials = await BEARER(request)
            authorized(request, credentials, LISTS_READ, open_when_reads_are=True)
            response = self.read(*wanted)
        except _HANDLED as error:
            response = await self.render(request, error)
        await response(scope, receive, send)

    def parse(self, scope: Scope) -> tuple[int, str, int, int] | None:
        """(user id, surface, context, limit) of a plain list read; None for anything else."""
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            return None
        path = _PATH.fullmatch(scope["path"])
        if path is None or path.group(2) not in self.surfaces:
            return None
        user_id = int(path.group(1))
        values = {b"context": 0, b"limit": self.default_limit}
        query: bytes = scope["query_string"]
        seen: set[bytes] = set()
        for part in query.split(b"&") if query else ():
            parameter = _PARAMETER.fullmatch(part)
            if parameter is None or parameter.group(1) in seen:
                return None
            seen.add(parameter.group(1))
            values[parameter.group(1)] = int(parameter.group(2))
        context, limit = values[b"context"], values[b"limit"]
        if user_id > self.max_id or context > self.max_id or not 1 <= limit <= self.max_limit:
            return None
        return user_id, path.group(2), context, limit

    def route(self, scope: Scope) -> Any:
        if self._route is None:
            routes = scope["app"].router.routes
            self._route = next(r for r in routes if getattr(r, "path", None) == LIST_PATH)
        return self._route

    async def render(self, request: Request, error: Exception) -> Response:
        """The response the app's exception handler for `error` gives (as the route's)."""
        handlers = request.app.exception_handlers
        handler = next(handlers[cls] for cls in type(error).__mro__ if cls in handlers)
        response = handler(request, error)
        if inspect.isawaitable(response):
            response = await response
        assert isinstance(response, Response)
        return response
