"""Retry policy and the classification of rejections (pure)."""

from __future__ import annotations

import psycopg
import sqlalchemy.exc
from dramatiq.errors import ActorNotFound

from schemas import InvalidMessage
from workers.middleware import classify, retry_policy


def test_invalid_input_is_never_retried() -> None:
    assert retry_policy(5)(0, InvalidMessage("bad")) is False


def test_transient_failures_retry_without_limit() -> None:
    retry_when = retry_policy(5)
    outage = sqlalchemy.exc.OperationalError("SELECT 1", {}, psycopg.OperationalError("down"))
    assert retry_when(10_000, outage) is True
    assert retry_when(10_000, ConnectionResetError()) is True


def test_unexpected_errors_retry_a_few_times_then_dead_letter() -> None:
    retry_when = retry_policy(3)
    assert [retry_when(n, KeyError("bug")) for n in range(5)] == [True, True, True, False, False]


def test_rejections_are_classified_with_readable_reasons() -> None:
    assert classify(InvalidMessage("x: bad")) == ("invalid", "invalid message: x: bad")
    assert classify(ActorNotFound("nope"))[0] == "unknown_actor"
    assert classify(KeyError("k"))[1].startswith("gave up after retries: KeyError")
