"""Integration fixtures beside tests/conftest.py's services: the session's queues go at the end
whatever declared them, and pages of the real app in a real browser (tests/support/browser.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI, QUEUE_PREFIX, RABBITMQ_URL, TEST_DB_URL
from tests.support import browser


@pytest.fixture(scope="session", autouse=True)
def session_queues_deleted() -> Iterator[None]:
    """Whatever declared the session's queues (the in-process broker, a Procfile process on the
    session's prefix), they go at the end. Tests that run a worker on a prefix of their own
    delete its queues themselves (`workers.queues.delete_queues`)."""
    yield
    from workers.queues import delete_queues
    from workers.services import rabbitmq_answers

    if rabbitmq_answers(RABBITMQ_URL):  # else the services' fixtures already said why
        delete_queues(RABBITMQ_URL, QUEUE_PREFIX)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium and Playwright, or a loud skip (a failure in CI, which installs them)."""
    missing = browser.chromium_missing()
    if missing is not None:
        if IN_CI:
            pytest.fail(f"{missing} (CI=true: a missing browser is a failure)")
        pytest.skip(f"!!! SKIPPED: {missing}: browser tests cannot run")
    return browser.CHROMIUM


@pytest.fixture
def live_app(db: Any) -> Iterator[str]:
    """The HTTP app as `larder serve` builds it (`create_app`), served by uvicorn on a free
    loopback port against the session's test database (clean for this test); its base URL."""
    from programs.http.app import create_app
    from store.db import Database

    with browser.serve(create_app(Database(TEST_DB_URL, 2))) as base_url:
        yield base_url


@pytest.fixture
def page(chromium: Path, live_app: str, tmp_path: Path) -> Iterator[browser.Page]:
    """A headless Chromium page on `live_app` (fresh profile): `page.goto("/docs")`,
    `page.requests`, `page.left_the_machine`, `page.screenshot_to(name)` (PNGs under
    $LARDER_SCREENSHOTS if set, else the test's tmp_path)."""
    with browser.browse(live_app, tmp_path) as opened:
        shots = os.environ.get("LARDER_SCREENSHOTS")
        if shots:
            opened.screenshots = Path(shots)
        yield opened
