"""Least privilege in RabbitMQ: the users of `larder rabbitmq definitions`, imported on the
local broker, can do their process's job and nothing else (a producer cannot consume)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pika
import pika.exceptions
import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.message import Message

from tests.conftest import IN_CI, SESSION, wait_for
from workers.broker_users import definitions
from workers.queues import delete_queues
from workers.services import rabbitmq_answers

QUEUES = f"t{SESSION}u."
USERS = f"t{SESSION}-"
PASSWORDS = {"producer": "pr0ducer-pw", "worker": "w0rker-pw", "monitor": "m0nitor-pw"}


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def urls(rabbitmq: str) -> Iterator[dict[str, str]]:
    """The three users imported from the definitions (this session's names and queues)."""
    if shutil.which("rabbitmqctl") is None or os.geteuid() != 0:
        message = "rabbitmqctl (as root) is needed to import users into the local broker"
        if IN_CI:
            pytest.fail(message)
        pytest.skip("!!! SKIPPED: " + message)
    # the broker's node (user rabbitmq) reads the file: not in a private pytest directory
    with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
        json.dump(definitions(QUEUES, USERS, "/", PASSWORDS), file)
        file.flush()
        os.chmod(file.name, 0o644)
        rabbitmqctl("import_definitions", file.name)
    base = pika.URLParameters(rabbitmq)
    found = {
        suffix: f"amqp://{USERS}{suffix}:{quote(password)}@{base.host}:{base.port}/%2F"
        for suffix, password in PASSWORDS.items()
    }
    wait_for(lambda: all(rabbitmq_answers(url) for url in found.values()))  # imported async
    yield found
    for suffix in PASSWORDS:
        rabbitmqctl("delete_user", f"{USERS}{suffix}")
    delete_queues(rabbitmq, QUEUES)


def refused(url: str, action: Callable[[Any], Any]) -> bool:
    """Whether RabbitMQ refuses the action on a channel of this user (ACCESS_REFUSED)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        action(connection.channel())
    except pika.exceptions.ChannelClosedByBroker as error:
        return error.reply_code == 403
    finally:
        if connection.is_open:
            connection.close()
    return False


def test_the_worker_declares_consumes_and_publishes_its_queues_only(urls: dict[str, str]) -> None:
    # Given Dramatiq's own broker on the worker's user
    broker = RabbitmqBroker(url=urls["worker"], confirm_delivery=True)
    try:
        # When it declares a workload's queues (with delay and dead-letter queues), publishes
        # and consumes
        broker.declare_queue(f"{QUEUES}events")
        broker.enqueue(Message(f"{QUEUES}events", "ingest", ({},), {}, {}, message_id="w-1"))
        consumer = broker.consume(f"{QUEUES}events", timeout=2000)
        received = next(message for message in consumer if message is not None)
        consumer.ack(received)
        consumer.close()
        # Then it got its message
        assert received.message_id == "w-1"
    finally:
        broker.close()
    # But it may not declare, read or purge a queue that is not larder's
    assert refused(urls["worker"], lambda c: c.queue_declare("someone-elses"))
    assert refused(urls["worker"], lambda c: c.queue_declare(f"{QUEUES}events.other"))


def test_a_producer_publishes_but_cannot_consume_declare_or_purge(urls: dict[str, str]) -> None:
    queue = f"{QUEUES}events"
    # Given the worker declared the queue (a producer never does)
    broker = RabbitmqBroker(url=urls["worker"])
    broker.declare_queue(queue, ensure=True)
    broker.close()
    producer = urls["producer"]
    # When the producer publishes / Then it lands
    connection = pika.BlockingConnection(pika.URLParameters(producer))
    channel = connection.channel()
    channel.confirm_delivery()
    channel.basic_publish("", queue, b"{}", pika.BasicProperties(delivery_mode=2), mandatory=True)
    connection.close()
    # But it may not consume, get, declare, purge or delete
    assert refused(producer, lambda c: c.basic_consume(queue, lambda *a: None))
    assert refused(producer, lambda c: c.basic_get(queue))
    assert refused(producer, lambda c: c.queue_declare(f"{QUEUES}recs"))
    assert refused(producer, lambda c: c.queue_purge(queue))
    assert refused(producer, lambda c: c.queue_delete(queue))
    # And the monitor may not even publish
    assert refused(
        urls["monitor"], lambda c: (c.confirm_delivery(), c.basic_publish("", queue, b""))
    )


def test_larder_intake_publish_works_as_a_producer(
    urls: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers.broker import build
    from workers.settings import Settings

    # Given larder's broker as a producer runs it: the producer's user, no declaring
    monkeypatch.setenv("RABBITMQ_URL", urls["producer"])
    monkeypatch.setenv("LARDER_QUEUE_PREFIX", QUEUES)
    monkeypatch.setenv("LARDER_DECLARE_QUEUES", "false")
    broker, _ = build(Settings())
    # When it sends a message to a queue the workers declared
    message: Message[Any] = Message(f"{QUEUES}events", "ingest", ({},), {}, {}, message_id="p-1")
    broker.enqueue(message)  # confirmed by RabbitMQ, or this raises
    broker.close()
    # Then it waits there; and with declaring on, the same user is refused
    monkeypatch.setenv("LARDER_DECLARE_QUEUES", "true")
    declaring, _ = build(Settings())
    with pytest.raises(Exception, match=r"ACCESS_REFUSED|ConnectionClosed|403"):
        declaring.enqueue(Message(f"{QUEUES}recs", "x", (), {}, {}, message_id="p-2"))
    declaring.close()
