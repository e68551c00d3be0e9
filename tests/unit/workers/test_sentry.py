"""Sentry events carry no personal data: what the SDK would send, caught by a fake transport
(no network), holds no message body, coordinate, address, note, request body or credential."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
import sentry_sdk
from dramatiq.brokers.stub import StubBroker
from dramatiq.message import Message
from fastapi import Request
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from workers.sentry import init_sentry, masked
from workers.settings import Settings

PERSONAL = ("60.123456", "24.987654", "Mannerheimintie 12 B", "call me at the back door")
EVENT = {"home_lat": 60.123456, "home_lon": 24.987654, "street": "Mannerheimintie 12 B"}


class Captured(Transport):
    sent: list[str] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        for item in envelope.items:
            Captured.sent.append(item.get_bytes().decode("utf-8", "replace"))


@pytest.fixture
def sentry(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Sentry as the processes start it (`init_sentry`), sending to a list."""
    monkeypatch.setenv("SENTRY_DSN", "https://publickey@sentry.invalid/1")
    Captured.sent = []
    init_sentry(Settings(), transport=Captured)
    yield Captured.sent
    sentry_sdk.get_client().close()
    monkeypatch.delenv("SENTRY_DSN")
    sentry_sdk.init()  # no DSN: off for the rest of the session
    assert sentry_sdk.get_client().dsn is None


def sent_text(sent: list[str]) -> str:
    sentry_sdk.flush(timeout=5)
    return "\n".join(sent)


def test_a_failing_actor_reports_without_the_message_body(sentry: list[str]) -> None:
    # Given an actor that fails on a message carrying a home and an address
    broker = StubBroker()  # created after Sentry: its Dramatiq integration is on it

    def fails(event: dict[str, Any], note: str) -> None:
        raise ValueError(f"cannot place {event['street']!r} at {event['home_lat']}, {note!r}")

    dramatiq.actor(broker=broker, queue_name="q", max_retries=0)(fails)
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        broker.enqueue(Message("q", "fails", (EVENT, PERSONAL[3]), {}, {}, message_id="m-1"))
        broker.join("q", fail_fast=False, timeout=10_000)
        worker.join()
    finally:
        worker.stop()
    # When Sentry reports it / Then the report has the failure, none of the personal data
    text = sent_text(sentry)
    assert "ValueError" in text and "fails" in text
    for value in PERSONAL:
        assert value not in text, value


def test_logged_errors_and_breadcrumbs_are_masked(sentry: list[str]) -> None:
    log = logging.getLogger("larder.test")
    log.info("user moved to %s", "'Mannerheimintie 12 B' at 60.123456")  # a breadcrumb
    log.error("could not geocode %r (%s)", PERSONAL[2], "24.987654")
    text = sent_text(sentry)
    assert "could not geocode" in text
    for value in PERSONAL[:3]:
        assert value not in text, value


def test_a_failing_request_reports_without_its_body_or_credentials(sentry: list[str]) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    app = FastAPI()

    @app.post("/v1/inbox/{problem_id}/ack")
    async def ack(problem_id: int, request: Request) -> None:
        body = await request.json()
        raise RuntimeError(f"could not save {body['note']!r}")

    client = TestClient(app, raise_server_exceptions=False)
    client.post(
        "/v1/inbox/1/ack",
        json={"note": PERSONAL[3]},
        headers={"Authorization": "Bearer lk_secretsecret_abc", "Cookie": "s=1"},
    )
    text = sent_text(sentry)
    assert "RuntimeError" in text
    assert PERSONAL[3] not in text and "lk_secretsecret" not in text and "s=1" not in text


def test_masking_keeps_the_shape_of_a_text() -> None:
    assert masked("postgresql://app:pw@db/x failed: 'Main St 1' at 60.1234") == (
        "postgresql://***@db/x failed: '[masked]' at [number]"
    )
    assert json.dumps(masked(None)) == "null"
