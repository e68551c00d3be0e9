"""The HTTP read API (`larder serve`): precomputed lists, one indexed query per request, filtered
at read time against a per-process snapshot of the catalog (store/availability.py).

    GET /v1/users/{user_id}/recommendations/{surface}?context=&limit=   discovery | category | items
    GET /v1/users/{user_id}/cart?items=1&items=2&limit=                 cart complements
    GET /healthz                                                        liveness (no database)
    GET /readyz, /metrics                                               readiness, Prometheus
    GET /docs, /openapi.json                                            interactive docs, spec

Every endpoint but /healthz needs an API key with its scope (programs/http/security.py,
docs/security.md): lists:read for lists, inbox:read and inbox:act for the inbox; each key has
its rate limit. `/inbox` is the support agents' console (programs/http/console: a page that
works through the inbox endpoints). Reads of lists go through `database` (the reader role); API keys and the
inbox's agent actions through `api_database` (the API's own role).

Filters: `discovery` and `category` lists (venue ids) drop venues that are inactive or closed
now in their city's local time; `items` and cart lists (item ids) drop unavailable items. Then
`limit` applies, so a list can be shorter than `limit`, or empty (200) when everything in it
is closed; 404 means there is no list at all, not even a fallback.

The two read endpoints are `async def` and run their one blocking, sub-millisecond query on
the event loop: the hop to FastAPI's thread pool and back (and the GIL hand-offs it costs) was
most of a read's time and all of its tail (benchmarks/README.md: p99 12.4 ms with plain `def`,
about 4 ms this way, at 500 requests/s). What bounds a stall is the serving connections'
`statement_timeout` (SERVE_STATEMENT_TIMEOUT_MS; a cancelled read is a 503). The inbox
endpoints, not on a hot path, stay plain `def` on the thread pool.

A plain, valid list read skips FastAPI's routing and dependency solving: `ListReads`
(programs/http/fastpath.py) runs the route's own auth check and `read_list` and renders errors
with the app's handlers, so it answers byte for byte as the route; anything else (parameters to
validate, other endpoints) goes through FastAPI. `larder serve` freezes the start-up heap out of
the cyclic garbage collector (`settle_heap`).
"""

from __future__ import annotations

import functools
import gc
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import psycopg
import sqlalchemy.exc
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import Field

from domain.order_checks.thresholds import RulesConfig
from domain.recs.surfaces import STORED
from domain.recs.surfaces.base import Surface
from domain.security.rates import RateLimits
from programs.http.console import add_console
from programs.http.fastpath import ListReads
from programs.http.inbox import inbox_router
from programs.http.observability import add_observability
from programs.http.security import (
    Access,
    BodyLimit,
    KeySnapshot,
    ReadsLists,
    errors,
)
from schemas.recs import RecommendationList
from store import recs
from store.db import SESSION_OPTIONS, Database
from store.recs.availability import AvailabilityCache, cache_for

logger = logging.getLogger(__name__)

MAX_ID = 2**63 - 1  # Postgres bigint
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
MAX_CART_ITEMS = 100

# The surfaces read from a stored per-user list (the registry: domain.recs.surfaces); cart, a
# surface combined at read time, has its own path.
LISTED = {surface.name: surface for surface in STORED}

UserId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="The user's id.")]
Limit = Annotated[
    int,
    Query(ge=1, le=MAX_LIMIT, description="At most this many ids, after read-time filters."),
]
ItemId = Annotated[int, Field(ge=1, le=MAX_ID)]


class RecommendationsOut(RecommendationList):
    """A precomputed list as served, after read-time filters."""

    user_id: int = Field(description="The user the list is for.")
    surface: str = Field(description="A surface of `larder recs surfaces` (or cart).")
    context: int = Field(
        description="0 for discovery; the food category id for category; the venue id for "
        "items and cart."
    )
    ids: list[int] = Field(description="Venue ids (discovery, category) or item ids, best first.")
    scores: list[float] = Field(description="The score of each id, in the same order.")
    model_version: str = Field(description="The model version that computed the list.")
    computed_at: datetime = Field(description="When the list (its oldest input row) was computed.")
    fallback: bool = Field(
        description="True when the user's own list is missing or stale and this is the popular "
        "list of the user's city (or of every city); for cart, when the user's own items list "
        "for the venue is missing or stale, so the venue's popular items re-rank instead."
    )
    propensities: list[float] | None = Field(
        None,
        description="banners: per id, the probability the policy had of serving it in that "
        "slot (1 for a pinned or fallback banner); log it with the impression "
        "(`activity.propensity`, `position` = the index). null on the other surfaces.",
    )


ERRORS: dict[int | str, dict[str, Any]] = {
    **errors(401, 403, 429, 503, e404="Unknown surface, or no list and no fallback to serve."),
    422: {"description": "Bad parameters (the `detail` list says which and why)."},
}


def utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    database: Database,
    *,
    api_database: Database | None = None,
    access: Access | None = None,
    docs: bool = True,
    max_body_bytes: int = 16 * 1024,
    clock: Callable[[], datetime] = utc_now,
    availability: AvailabilityCache | None = None,
    max_age: timedelta = recs.DEFAULT_MAX_AGE,
    readiness: Callable[[], dict[str, Any]] | None = None,
    rules: Callable[[], RulesConfig] | None = None,
) -> FastAPI:
    """The API on `database` (lists) and `api_database` (keys, inbox; default: `database`).
    `access` defaults to the keys in `api_database` with the settings' rate limits; `docs`
    serves /docs and /openapi.json. `clock` (aware datetimes) decides what is open now;
    `availability` defaults to a cache on `database` refreshed every 10 s; user lists older
    than `max_age` are served as the fallback; `readiness` answers /readyz (workers.health);
    `rules()` the order-check thresholds the console's timelines show (default: the settings'
    rules file)."""
    catalog = availability or cache_for(database)
    api_database = api_database or database

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _warm(catalog)
        yield
        database.dispose()
        api_database.dispose()

    app = FastAPI(
        title="larder read API",
        version="1",
        description="Precomputed recommendation lists, one indexed lookup per request, with "
        "venues that are closed or inactive and items that are unavailable dropped at read time.",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's own pages load Swagger UI from a CDN: add_docs serves it
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )
    if docs:
        add_docs(app)
    app.state.access = access or access_from_settings(api_database)

    def read_list(user_id: int, surface: str, context: int, limit: int) -> Response:
        """The list read, as the route and its fast path (programs/http/fastpath.py) serve it."""
        found_surface = LISTED.get(surface)
        if found_surface is None:
            raise HTTPException(404, unknown_surface(surface))
        check_context(found_surface, context)
        with database.unit_of_work(single_statement=True) as uow:
            found = recs.read(uow.connection, user_id, surface, context, max_age)
        if found is None:
            raise HTTPException(
                404, f"no {surface} list for user {user_id} (context {context}) and no fallback"
            )
        return respond(found, catalog.get().keeps(found_surface.ids, clock()), limit)

    # innermost of the middleware: after the body limit and inside the request metrics
    app.add_middleware(
        ListReads,
        read=read_list,
        surfaces=frozenset(LISTED),
        max_id=MAX_ID,
        max_limit=MAX_LIMIT,
        default_limit=DEFAULT_LIMIT,
    )
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    add_observability(app, readiness)  # /readyz and /metrics: probes and scrapes carry no key

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(sqlalchemy.exc.OperationalError)
    async def database_unavailable(request: Request, error: Exception) -> JSONResponse:
        """503, not 500: the request was fine and may succeed elsewhere or in a moment."""
        logger.warning("database unavailable: %s", error)
        return JSONResponse({"detail": "database unavailable"}, status_code=503)

    # the support inbox and its console at /inbox (docs/order-checks.md)
    app.include_router(inbox_router(api_database, rules or rules_from_settings))
    add_console(app)

    @app.get("/healthz", summary="Liveness", description="The process answers (no database).")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/v1/users/{user_id}/recommendations/{surface}",
        response_model=RecommendationsOut,
        responses=ERRORS,
        summary="A user's precomputed list for a surface",
        description="The user's own list when it is fresh, else the popular list of the user's "
        "city (or of every city), flagged `fallback`. `discovery` and `category` lists hold "
        "venue ids and drop venues closed or inactive now; `items` lists hold item ids and "
        "drop unavailable items. `limit` applies after the filters.",
    )
    async def recommendations(
        reader: ReadsLists,
        user_id: UserId,
        surface: Annotated[
            str,
            PathParam(
                description="; ".join(f"{s.name}: {s.description}" for s in STORED),
                json_schema_extra={"enum": list(LISTED)},
            ),
        ],
        context: Annotated[
            int,
            Query(
                ge=0,
                le=MAX_ID,
                description="; ".join(f"{s.name}: {s.context.description}" for s in STORED),
            ),
        ] = 0,
        limit: Limit = DEFAULT_LIMIT,
    ) -> Response:
        return read_list(user_id, surface, context, limit)

    @app.get(
        "/v1/users/{user_id}/cart",
        response_model=RecommendationsOut,
        responses=ERRORS,
        summary="Items to add to a cart",
        description="Complements of the cart's items at their venue: lifts summed over the "
        "cart's items, re-ranked by the user's affinity (their fresh `items` list for the venue, "
        "else the venue's popular items, then `fallback` is true). Items already in the cart and "
        "unavailable items are left out. `context` is the venue id.",
    )
    async def cart(
        reader: ReadsLists,
        user_id: UserId,
        items: Annotated[
            list[ItemId],
            Query(
                min_length=1,
                max_length=MAX_CART_ITEMS,
                description="The cart's item ids, one parameter each: `?items=1&items=2`.",
            ),
        ],
        limit: Limit = DEFAULT_LIMIT,
    ) -> Response:
        try:
            with database.unit_of_work(single_statement=True) as uow:
                # the best MAX_LIMIT, so that `limit` survives dropping unavailable items
                found = recs.read_cart(uow.connection, user_id, items, MAX_LIMIT, max_age)
        except recs.MixedCart as error:
            raise invalid("items", str(error), items) from None
        if found is None:
            raise HTTPException(
                404, f"no complements for the cart's items {items} (unknown items, or none)"
            )
        return respond(found, catalog.get().item_available, limit)

    return app


DOCS_URL = "/docs"
# Swagger UI's dist files (swagger-ui-bundle.js, swagger-ui.css, favicon.png), as shipped in
# the fastapi-offline package: the docs page needs nothing from outside the machine.
SWAGGER_UI_FILES = Path(str(resources.files("fastapi_offline") / "static"))


def add_docs(app: FastAPI, docs_url: str = DOCS_URL) -> None:
    """Swagger UI at `docs_url`, on the app's `/openapi.json`, with its JavaScript and CSS
    served by the app itself under `<docs_url>/assets` (FastAPI's default page loads them
    from a CDN: a blank page on a machine without internet), and the OAuth2 redirect page
    Swagger UI expects beside it. Paths honour the ASGI root_path (behind a proxy prefix)."""
    assets, oauth2_redirect = f"{docs_url}/assets", f"{docs_url}/oauth2-redirect"
    app.mount(assets, StaticFiles(directory=SWAGGER_UI_FILES), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(docs_url, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - docs",
            swagger_js_url=f"{root}{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{assets}/swagger-ui.css",
            swagger_favicon_url=f"{root}{assets}/favicon.png",
            oauth2_redirect_url=root + oauth2_redirect,
            # no badge fetched from the online validator
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(oauth2_redirect, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()


def unknown_surface(surface: str) -> str:
    return (
        f"unknown surface {surface!r}; known surfaces: {', '.join(LISTED)}"
        " (cart complements: /v1/users/{user_id}/cart)"
    )


def check_context(surface: Surface, context: int) -> None:
    """Absent (0) for a surface without context; required where the surface says so
    (food_categories' day-part is optional: absent means now)."""
    if surface.context.name == "none" and context != 0:
        raise invalid("context", f"{surface.name} takes no context (absent or 0)", context)
    if surface.context.required and context == 0:
        raise invalid(
            "context", f"{surface.name} needs context: {surface.context.description}", None
        )


def invalid(parameter: str, message: str, value: object) -> RequestValidationError:
    """A 422 shaped like FastAPI's own validation errors."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", parameter), "msg": message, "input": value}]
    )


def respond(found: RecommendationList, keep: Callable[[int], bool], limit: int) -> Response:
    """The list's first `limit` ids that `keep` accepts, with their scores, as JSON."""
    ids: list[int] = []
    scores: list[float] = []
    props: list[float] = []
    given = found.propensities or [0.0] * len(found.ids)
    for id_, score, p in zip(found.ids, found.scores, given, strict=True):
        if len(ids) == limit:
            break
        if keep(id_):
            ids.append(id_)
            scores.append(score)
            props.append(p)
    update = {"ids": ids, "scores": scores, "propensities": props if found.propensities else None}
    served = found.model_copy(update=update)
    return Response(served.model_dump_json(), media_type="application/json")


def _warm(catalog: AvailabilityCache) -> None:
    """Load the snapshot before the first request; if the database is down, the first request
    that needs it tries again."""
    try:
        catalog.get()
    except Exception:
        logger.exception("could not load the catalog snapshot at start-up")


# A thread that wants the GIL waits until its holder gives it up: by default after 5 ms. The
# event loop must not wait that long behind the snapshot reload or an inbox request's thread.
GIL_SWITCH_S = 0.0005
# A read is one primary-key lookup (~0.3 ms); one that waits longer (a lock, an overloaded
# server) is cancelled and answered 503 rather than hold the event loop.
SERVE_STATEMENT_TIMEOUT_MS = 250


@functools.cache
def rules_from_settings() -> RulesConfig:
    """The settings' rules file (LARDER_RULES_FILE), read once; built-in defaults without one."""
    from domain.order_checks.rules import load_rules
    from workers.settings import get_settings

    path = get_settings().rules_file
    return load_rules(path) if path is not None else RulesConfig()


def access_from_settings(api_database: Database) -> Access:
    """Keys from `api_database`; rate limits and open reads from the settings."""
    from workers.settings import get_settings

    settings = get_settings()
    return Access(
        KeySnapshot(api_database, settings.api_key_refresh_s),
        RateLimits(settings.api_rate_per_s, settings.api_rate_burst),
        open_reads=settings.api_open_reads,
    )


def app_from_settings() -> FastAPI:
    """The app as `larder serve` runs it (a uvicorn factory: each worker process builds its own
    pools and caches after it starts)."""
    from workers import logs
    from workers.sentry import init_sentry
    from workers.settings import get_settings

    settings = get_settings()
    logs.configure(settings.log_level, settings.log_format)
    init_sentry(settings)
    sys.setswitchinterval(GIL_SWITCH_S)
    options = f"{SESSION_OPTIONS} -c statement_timeout={SERVE_STATEMENT_TIMEOUT_MS}"
    reader = Database(settings.database_url.get_secret_value(), settings.db_pool_size, options)
    api = (
        Database(settings.api_database_url.get_secret_value(), 4)
        if settings.api_database_url
        else reader
    )
    if settings.api_open_reads:
        logger.warning("the read API is open: lists are served without credentials")
    rabbitmq_url = settings.rabbitmq_url.get_secret_value()

    def readiness() -> dict[str, Any]:
        from workers import health

        return health.as_json(health.check(reader, rabbitmq_url), detailed=False)

    app = create_app(
        reader,
        api_database=api,
        docs=settings.docs_served,
        max_body_bytes=settings.api_max_body_bytes,
        readiness=readiness,
    )
    settle_heap()
    return app


def settle_heap() -> None:
    """Move everything alive now (modules, the app, its schemas and validators: ~120k objects)
    out of the cyclic collector's reach (`gc.freeze`): a full collection then scans only what
    came after (~9k objects), instead of stopping the event loop for ~100 ms (measured: 93-115
    ms) with every request in flight waiting behind it."""
    gc.collect()
    gc.freeze()
