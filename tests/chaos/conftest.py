"""The fault tests (`make chaos`, marker `chaos`): private RabbitMQ and Postgres instances of
their own (tests/chaos/services.py), a database per test cloned from a migrated template,
larder's processes as the Procfile runs them (tests/chaos/fleet.py), and a report of what each
test published, got confirmed, applied and lost (printed at the end, and written as JSON to
$LARDER_CHAOS_REPORT, default .larder/chaos-report.json)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.chaos.fleet import Fleet
from tests.chaos.services import PrivatePostgres, PrivateRabbitMQ, missing
from tests.conftest import IN_CI
from tests.support.paths import ROOT

REPORT = Path(os.environ.get("LARDER_CHAOS_REPORT", ROOT / ".larder" / "chaos-report.json"))
_FIGURES: list[dict[str, Any]] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.chaos)
            item.add_marker(pytest.mark.timeout(600))  # restarts and outages take minutes


@pytest.fixture(scope="session")
def private() -> Iterator[tuple[PrivatePostgres, PrivateRabbitMQ]]:
    """A Postgres and a RabbitMQ of the fault tests' own, with larder's definitions imported."""
    problem = missing()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"{problem} (CI=true: the fault tests must run)")
        pytest.skip(f"!!! SKIPPED: {problem}: the fault tests cannot run")
    postgres, rabbitmq = PrivatePostgres(), PrivateRabbitMQ()
    try:
        postgres.start()
        rabbitmq.start()
        rabbitmq.import_definitions()
        _template(postgres)
        yield postgres, rabbitmq
    finally:
        rabbitmq.remove()
        postgres.remove()


TEMPLATE = "larder_template"


def _template(postgres: PrivatePostgres) -> None:
    from store import migrate
    from store.db import make_engine

    with psycopg.connect(postgres.server_url, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {TEMPLATE}")
    engine = make_engine(postgres.url(TEMPLATE), 1)
    migrate.upgrade(engine)
    engine.dispose()


def new_database(postgres: PrivatePostgres) -> str:
    name = f"chaos_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres.server_url, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    return postgres.url(name)


@pytest.fixture
def scratch() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="larder-chaos-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def fleet(
    private: tuple[PrivatePostgres, PrivateRabbitMQ], scratch: Path, request: pytest.FixtureRequest
) -> Iterator[Fleet]:
    """larder's processes on a fresh database and empty queues; stopped after the test (their
    logs are printed when it failed)."""
    postgres, rabbitmq = private
    if not _answers(rabbitmq):  # a test that failed mid-restart
        rabbitmq.start()
    rabbitmq.purge_all()
    made = Fleet(new_database(postgres), rabbitmq.url, scratch)
    yield made
    made.stop_all()
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        for process in made.processes:
            print(f"----- {process.name} ({' '.join(process.command)})\n{process.output()[-6000:]}")


def _answers(rabbitmq: PrivateRabbitMQ) -> bool:
    from tests.chaos.services import answers

    return answers(rabbitmq.port)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Record a test's figures: published, confirmed, applied, lost (must be 0), and others."""

    def record(*, published: int, confirmed: int, applied: int, **extra: Any) -> None:
        lost = confirmed - applied
        _FIGURES.append(
            {
                "test": request.node.name,
                "published": published,
                "confirmed": confirmed,
                "applied": applied,
                "lost": lost,
                **extra,
            }
        )
        assert lost == 0, f"{lost} confirmed events were not applied"

    return record


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not _FIGURES:
        return
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(_FIGURES, indent=2, default=str) + "\n")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    write = terminalreporter.write_line
    write("")
    write(f"fault tests: events published / confirmed / applied / lost  ({REPORT})")
    for row in _FIGURES:
        extra = ", ".join(
            f"{k} {v}"
            for k, v in row.items()
            if k not in ("test", "published", "confirmed", "applied", "lost")
        )
        write(
            f"  {row['test']}: {row['published']} / {row['confirmed']} / {row['applied']} /"
            f" {row['lost']}" + (f"  ({extra})" if extra else "")
        )
