"""Message signatures in tests: known keys, and the session broker's policy swapped for one
test (the broker and its worker live for the whole session)."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pika

from domain.security.signing import Keyring, Verification, sign

UPSTREAM = ("upstream-1", b"the secret of upstream-1, 32 bytes+")
FLEET = ("fleet-1", b"the fleet's own signing key, 32 bytes")
RETIRED = ("upstream-0", b"a key that was retired last month!!")
KNOWN = dict([UPSTREAM, FLEET])


def keyring(signing_id: str | None = FLEET[0], **fields: Any) -> Keyring:
    return Keyring({**KNOWN}, signing_id, frozenset({RETIRED[0]}), **fields)


@contextmanager
def policy(broker: Any, required: bool = True, max_age_ms: int = 60_000) -> Iterator[Keyring]:
    """The broker verifies with the known keys (signatures `required` or not) and signs with
    the fleet's key, until the block ends."""
    ring = keyring()
    screen, signer = broker.screen, broker.keyring
    broker.screen = dataclasses.replace(
        screen, verification=Verification(ring, required, max_age_ms=max_age_ms)
    )
    broker.keyring = ring
    try:
        yield ring
    finally:
        broker.screen, broker.keyring = screen, signer


def signed_by(key: tuple[str, bytes], body: bytes, at_ms: int | None = None) -> dict[str, Any]:
    """The headers `key` signs `body` with (now, or at `at_ms`)."""
    ring = Keyring(dict([key]), key[0])
    return sign(ring, body, time.time_ns() // 1_000_000 if at_ms is None else at_ms)


def envelope(queue: str, actor: str, arg: Any, message_id: str) -> bytes:
    return json.dumps(
        {
            "queue_name": queue,
            "actor_name": actor,
            "args": [arg],
            "kwargs": {},
            "options": {},
            "message_id": message_id,
            "message_timestamp": time.time_ns() // 1_000_000,
        }
    ).encode()


def publish_raw(
    url: str, queue: str, deliveries: list[tuple[bytes, dict[str, Any] | None]]
) -> None:
    """Bodies with their headers, as any AMQP client publishes them (raw pika)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    for body, headers in deliveries:
        properties = pika.BasicProperties(delivery_mode=2, headers=headers)
        channel.basic_publish("", queue, body, properties)
    connection.close()
