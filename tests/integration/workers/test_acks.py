"""Coalesced acks on the real RabbitMQ (workers.broker._ScreeningConsumer): many worker threads
ack at once, the connection's thread is woken once and acks every one of them; a message
nobody acked is redelivered, one acked never is."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from dramatiq.message import Message

from tests.conftest import RABBITMQ_URL
from workers.broker import build
from workers.queues import delete_queues
from workers.settings import get_settings

MESSAGES = 120


@pytest.fixture
def queue(rabbitmq: str) -> Iterator[tuple[Any, str]]:
    """A broker built as a worker builds it, and a queue of its own with MESSAGES messages."""
    prefix = f"acks{uuid.uuid4().hex[:8]}."
    broker, _ = build(get_settings())
    name = prefix + "q"
    broker.declare_queue(name, ensure=True)  # type: ignore[call-arg]
    for n in range(MESSAGES):
        broker.enqueue(Message(name, "nobody", ({"n": n},), {}, {}, message_id=f"m-{n}"))
    try:
        yield broker, name
    finally:
        broker.close()
        delete_queues(RABBITMQ_URL, prefix, ("q",))


def received(consumer: Any, count: int) -> list[Any]:
    found: list[Any] = []
    for message in consumer:
        if message is None:  # the consumer's timeout: nothing more is coming
            break
        found.append(message)
        if len(found) == count:
            break
    return found


def ack_from_threads(consumer: Any, messages: list[Any], threads: int = 8) -> None:
    """Ack `messages` from `threads` threads at once, as Dramatiq's worker threads do."""
    chunks = [messages[k::threads] for k in range(threads)]
    workers = [
        threading.Thread(target=lambda c=chunk: [consumer.ack(m) for m in c]) for chunk in chunks
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def delivered(broker: Any, name: str) -> tuple[Any, list[Any]]:
    """A new consumer of the queue, and every message RabbitMQ delivers to it."""
    consumer = broker.consume(name, prefetch=MESSAGES, timeout=1000)
    return consumer, received(consumer, MESSAGES)


def test_acks_from_many_threads_wake_the_connection_once_and_all_land(
    queue: tuple[Any, str],
) -> None:
    broker, name = queue
    # Given every message delivered to one consumer
    consumer, messages = delivered(broker, name)
    assert len(messages) == MESSAGES
    wakeups = counting(consumer)
    # When 8 threads ack them all while the connection's thread is busy elsewhere
    ack_from_threads(consumer, messages)
    # Then the connection's thread was asked to wake once, not once per ack
    assert wakeups() == 1
    # And once it runs, every ack reaches RabbitMQ: nothing comes back after a reconnect
    assert received(consumer, 1) == []
    consumer.close()
    again, redelivered = delivered(broker, name)
    again.close()
    assert redelivered == []


def test_a_message_not_acked_is_redelivered_and_an_acked_one_is_not(
    queue: tuple[Any, str],
) -> None:
    broker, name = queue
    consumer, messages = delivered(broker, name)
    # Given the even messages acked, the odd ones still being worked on
    ack_from_threads(consumer, messages[::2])
    assert received(consumer, 1) == []  # the connection's thread flushes its acks
    # When the consumer's connection drops
    consumer.close()
    # Then exactly the unacked ones are delivered again
    again, redelivered = delivered(broker, name)
    again.close()
    assert sorted(m.message_id for m in redelivered) == sorted(m.message_id for m in messages[1::2])


def counting(consumer: Any) -> Any:
    """Count the consumer's requests to wake its connection's thread from now on."""
    calls = [0]
    original = consumer.connection.add_callback_threadsafe

    def counted(callback: Any) -> None:
        calls[0] += 1
        original(callback)

    consumer.connection.add_callback_threadsafe = counted
    return lambda: calls[0]
