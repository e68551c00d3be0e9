"""Engine creation and the unit of work (one transaction; follow-ups sent after commit)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from opentelemetry import trace
from sqlalchemy import Engine, create_engine

_tracer = trace.get_tracer("larder.store")  # a no-op unless tracing is on (workers/tracing.py)


def sqlalchemy_url(url: str) -> str:
    """Accept plain `postgresql://` URLs (what ops paste) and pin the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


SESSION_OPTIONS = "-c jit=off"
"""larder's statements touch few rows by index, but bulk tables make the planner's cost
estimates large enough to trigger JIT compilation: ~250 ms of compiling per statement, measured
on the list writes. Off for larder's sessions only."""


def make_engine(url: str, pool_size: int = 10, options: str = SESSION_OPTIONS) -> Engine:
    return create_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        connect_args={"options": options},
    )


@dataclass
class UnitOfWork:
    """One open transaction (or one autocommitted statement) on a pooled connection.

    `after_commit(f)` runs `f` once the transaction has committed, and never when it rolls back:
    what others act on (a message to enqueue) must not exist before the rows it refers to
    (warehouse's tasks do the same)."""

    connection: psycopg.Connection[Any]
    _after_commit: list[Callable[[], object]] = field(default_factory=list)

    def after_commit(self, hook: Callable[[], object]) -> None:
        self._after_commit.append(hook)


class Database:
    """Lazily created engine (nothing connects at import time; safe to create after fork).

    Actors work on the pooled psycopg connection directly: the hot SQL is plain psycopg, and
    skipping SQLAlchemy's execution layer halves client CPU per message. SQLAlchemy keeps the
    pool, the models and the migrations; the CLI and tests may use `engine` as usual."""

    def __init__(self, url: str, pool_size: int = 10, options: str = SESSION_OPTIONS) -> None:
        self._url = url
        self._pool_size = pool_size
        self._options = options  # libpq `options`: session settings of every connection
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = make_engine(self._url, self._pool_size, self._options)
        return self._engine

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    @contextmanager
    def unit_of_work(self, single_statement: bool = False) -> Iterator[UnitOfWork]:
        """One transaction.

        `single_statement=True` is for work that is one SQL statement, which Postgres already
        runs atomically: it skips the BEGIN/COMMIT round trips."""
        with _tracer.start_as_current_span("transaction"):
            with self._connection() as connection:
                uow = UnitOfWork(connection)
                if single_statement:
                    yield uow
                else:
                    with connection.transaction():
                        yield uow
            for hook in uow._after_commit:  # the connection is back in the pool; the span
                hook()  # still open: a follow-up's publish shows inside its transaction

    def delete_in_chunks(self, statement: str, params: dict[str, Any], chunk: int) -> int:
        """Run a DELETE of at most `chunk` rows (it takes `%(chunk)s`) in short transactions
        until one deletes fewer: no long lock on a big table. Returns how many rows went."""
        deleted = 0
        while True:
            with self.unit_of_work(single_statement=True) as uow:
                count = uow.connection.execute(statement, {**params, "chunk": chunk}).rowcount
            deleted += max(count, 0)
            if count < chunk:
                return deleted

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled psycopg connection in autocommit mode (transactions are explicit)."""
        proxy = self.engine.raw_connection()
        connection: psycopg.Connection[Any] = proxy.driver_connection  # type: ignore[assignment]
        try:
            connection.autocommit = True
            yield connection
        except psycopg.OperationalError:
            proxy.invalidate()  # broken connection: never hand it out again
            raise
        finally:
            if not connection.closed:
                connection.autocommit = False
            proxy.close()
