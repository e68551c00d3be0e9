"""AMQP over TLS, end to end: larder's broker on an `amqps://` URL with a CA and a client
certificate, through a TLS terminator (the local RabbitMQ listens in plaintext only) that
requires a client certificate of the same throwaway CA."""

from __future__ import annotations

import shutil
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import pika.exceptions
import pytest
from dramatiq.message import Message

from tests.conftest import IN_CI
from tests.support import tls
from workers import amqp


@pytest.fixture(scope="module")
def proxy(
    rabbitmq: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[tls.Authority, int]]:
    if shutil.which("openssl") is None:
        if IN_CI:
            pytest.fail("openssl is not installed")
        pytest.skip("!!! SKIPPED: openssl is not installed")
    ca = tls.authority(tmp_path_factory.mktemp("ca"))
    with tls.tls_proxy(ca, pika.URLParameters(rabbitmq).port) as port:
        yield ca, port


def test_larders_broker_publishes_and_consumes_over_amqps_with_a_client_certificate(
    proxy: tuple[tls.Authority, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers.broker import build
    from workers.settings import Settings

    ca, port = proxy
    cert, key = ca.pair("client")
    # Given the settings docs/security.md describes
    monkeypatch.setenv("RABBITMQ_URL", f"amqps://guest:guest@localhost:{port}/%2F")
    monkeypatch.setenv("LARDER_AMQP_CA_FILE", str(ca.ca))
    monkeypatch.setenv("LARDER_AMQP_CERT_FILE", str(cert))
    monkeypatch.setenv("LARDER_AMQP_KEY_FILE", str(key))
    broker: Any = build(Settings())[0]
    queue = f"tls-{uuid.uuid4().hex[:8]}"
    try:
        # When it declares a queue, publishes (confirmed) and consumes over TLS
        broker.declare_queue(queue)
        broker.enqueue(Message(queue, "ingest", ({},), {}, {}, message_id="over-tls"))
        consumer = broker.consume(queue, timeout=2000)
        received = next(m for m in consumer if m is not None)
        consumer.ack(received)
        consumer.close()
        # Then the message made the round trip
        assert received.message_id == "over-tls"
    finally:
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            broker.channel.queue_delete(name)
        broker.close()


def test_no_client_certificate_or_another_ca_is_refused(
    proxy: tuple[tls.Authority, int], tmp_path: Path
) -> None:
    ca, port = proxy
    url = f"amqps://guest:guest@localhost:{port}/%2F"

    def connect(params: Any) -> None:
        params.connection_attempts, params.socket_timeout = 1, 5
        pika.BlockingConnection(params).close()

    # Without a client certificate, the terminator refuses the handshake
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        connect(amqp.parameters(url, ca.ca))
    # A broker certificate from another CA fails verification
    other = tls.authority(tmp_path / "other", "some other CA")
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        connect(amqp.parameters(url, other.ca, *other.pair("client")))
    # And with everything right, it connects
    connect(amqp.parameters(url, ca.ca, *ca.pair("client")))
