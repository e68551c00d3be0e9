"""The HTTP app's own metrics and probes: read latency per endpoint (`/metrics`), readiness
(`/readyz`: RabbitMQ, Postgres, migrations at head). `/healthz` stays liveness (app.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUEST_SECONDS = Histogram(
    "larder_http_request_duration_seconds",
    "HTTP requests served, by endpoint (the route's path template), method and status.",
    ["endpoint", "method", "status"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


class RequestMetrics:
    """Pure ASGI middleware (a BaseHTTPMiddleware would cost more than a read): times every
    request by its route template, so ids in paths do not make a label per user."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            endpoint = getattr(scope.get("route"), "path", "unmatched")
            REQUEST_SECONDS.labels(endpoint, scope["method"], str(status[0])).observe(
                time.perf_counter() - started
            )


def registry() -> CollectorRegistry:
    """Every uvicorn process's metrics when they share PROMETHEUS_MULTIPROC_DIR, else this one's."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected)
    return collected


def add_observability(app: FastAPI, readiness: Callable[[], dict[str, Any]] | None) -> None:
    app.add_middleware(RequestMetrics)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry()), media_type=CONTENT_TYPE_LATEST)

    @app.get(
        "/readyz",
        summary="Readiness",
        description="RabbitMQ and Postgres answer and the database is migrated to this code's "
        "head: 200, else 503, with which check failed (no credentials: a probe carries none; "
        "`larder health` runs the same checks and says why).",
    )
    async def readyz() -> JSONResponse:
        if readiness is None:
            return JSONResponse({"status": "ok", "checks": {}})
        found = await run_in_threadpool(readiness)
        return JSONResponse(found, status_code=200 if found["status"] == "ok" else 503)
