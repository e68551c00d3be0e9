"""Which scheduler leads which periodic duty: Postgres session-level advisory locks.

A lock taken with `pg_try_advisory_lock` stays held until it is released or the session ends,
so a scheduler that leads a duty keeps leading it for as long as it lives, and a scheduler that
dies (or loses its connection) gives its duties up at once. Locks live in one connection of the
scheduler's own, outside the pool; nothing is written to any table.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any

import psycopg

log = logging.getLogger("larder.scheduler")

TRY_LOCK = "SELECT pg_try_advisory_lock(%(key)s)"
UNLOCK = "SELECT pg_advisory_unlock(%(key)s)"
PING = "SELECT 1"  # a lock lives as long as its session: a session that answers still holds it
NAMESPACE = "larder.scheduler.duty:"


def lock_key(duty: str) -> int:
    """A stable signed 64-bit key per duty name (advisory locks take a bigint)."""
    digest = hashlib.sha256((NAMESPACE + duty).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def led_elsewhere(url: str, duties: list[str]) -> list[str]:
    """The duties of `duties` that a scheduler leads on this database now (their locks held
    by another session); each lock this takes to find out is released at once."""
    led = []
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
        for duty in duties:
            row = connection.execute(TRY_LOCK, {"key": lock_key(duty)}).fetchone()
            if row is not None and row[0]:
                connection.execute(UNLOCK, {"key": lock_key(duty)})
            else:
                led.append(duty)
    return led


class Leases:
    """The duties this scheduler leads. `leads(duty)` is true when this process holds the
    duty's lock (taking it if it is free); a broken connection drops every lock, and the next
    call reconnects and tries again."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._lock = threading.Lock()  # the fast lane and the slow lane share the connection
        self._connection: psycopg.Connection[Any] | None = None
        self._held: set[str] = set()

    def leads(self, duty: str) -> bool:
        with self._lock:
            try:
                if duty in self._held and self._alive():
                    self._connection.execute(PING)  # type: ignore[union-attr]  # still held?
                    return True
                return self._try(duty)
            except psycopg.OperationalError as error:
                log.warning("cannot reach Postgres to lead %s: %s", duty, error)
                self._reset()
                return False

    def held(self) -> set[str]:
        with self._lock:
            return set(self._held) if self._alive() else set()

    def close(self) -> None:
        with self._lock:
            self._reset()

    def _try(self, duty: str) -> bool:
        if self._connection is None or self._connection.closed:
            self._held.clear()
            self._connection = psycopg.connect(self._url, autocommit=True, connect_timeout=5)
        row = self._connection.execute(TRY_LOCK, {"key": lock_key(duty)}).fetchone()
        if row is not None and row[0]:
            self._held.add(duty)
            log.info("this scheduler now leads %s", duty)
            return True
        return False

    def _alive(self) -> bool:
        return self._connection is not None and not self._connection.closed

    def _reset(self) -> None:
        if self._connection is not None and not self._connection.closed:
            self._connection.close()
        self._connection = None
        self._held.clear()
