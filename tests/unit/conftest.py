"""Unit tests run without services: a connection to Postgres or RabbitMQ fails the test, so
one that needs them cannot hide here (`make unit` runs these alone, in seconds)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

SERVICE_PORTS = {5432, 5672, 15672}


@pytest.fixture(autouse=True)
def no_services(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and len(address) >= 2 and address[1] in SERVICE_PORTS:
            raise AssertionError(f"a unit test connected to a service at {address}: move it")
        return connect(self, address)

    def no_postgres(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a unit test connected to Postgres: move it to tests/integration")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(psycopg.Connection, "connect", no_postgres)  # libpq: not Python sockets
    yield
