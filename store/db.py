"""Engine creation and the unit of work (one transaction; follow-ups sent after commit)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, create_engine


def sqlalchemy_url(url: str) -> str:
    """Accept plain `postgresql://` URLs (what ops paste) and pin the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


def make_engine(url: str, pool_size: int = 10) -> Engine:
    return create_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
    )


@dataclass
class UnitOfWork:
    """One open transaction plus follow-up actions to run only once it has committed."""

    connection: Connection
    after_commit: list[Callable[[], object]] = field(default_factory=list)

    def defer(self, action: Callable[[], object]) -> None:
        self.after_commit.append(action)


class Database:
    """Lazily created engine (nothing connects at import time; safe to create after fork)."""

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self._url = url
        self._pool_size = pool_size
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = make_engine(self._url, self._pool_size)
        return self._engine

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    @contextmanager
    def unit_of_work(self, single_statement: bool = False) -> Iterator[UnitOfWork]:
        """One transaction; deferred actions run after it commits.

        `single_statement=True` is for work that is one SQL statement, which Postgres already
        runs atomically: it skips the BEGIN/COMMIT round trips (autocommit), the difference
        between ~1.7k and ~2.5k+ single-event messages/s on two cores."""
        with self._transaction(single_statement) as connection:
            uow = UnitOfWork(connection)
            yield uow
        for action in uow.after_commit:
            action()

    @contextmanager
    def _transaction(self, single_statement: bool) -> Iterator[Connection]:
        if not single_statement:
            with self.engine.begin() as connection:
                yield connection
            return
        with self.engine.connect() as connection:
            yield connection.execution_options(isolation_level="AUTOCOMMIT")
