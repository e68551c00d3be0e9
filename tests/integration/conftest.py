"""Integration sessions leave no queues behind: whatever declared the session's queues (the
in-process broker, a Procfile process started on the session's prefix), they go at the end.
Tests that run a worker on a prefix of their own delete its queues themselves
(`workers.queues.delete_queues`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import QUEUE_PREFIX, RABBITMQ_URL


@pytest.fixture(scope="session", autouse=True)
def session_queues_deleted() -> Iterator[None]:
    yield
    from workers.queues import delete_queues
    from workers.services import rabbitmq_answers

    if rabbitmq_answers(RABBITMQ_URL):  # else the services' fixtures already said why
        delete_queues(RABBITMQ_URL, QUEUE_PREFIX)
