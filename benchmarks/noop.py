"""A no-op actor on the benchmark's queue: the Dramatiq ceiling for the same setup."""

from __future__ import annotations

from typing import Any

import dramatiq

from workers import queues
from workers.broker import broker  # noqa: F401  (the one broker; binds this actor to it)


@dramatiq.actor(actor_name="noop", queue_name=queues.name("noop"))
def noop(message: dict[str, Any]) -> None:
    """Does nothing: measures broker + Dramatiq overhead only."""
