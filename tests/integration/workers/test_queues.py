"""`workers.queues.delete_queues` against the real RabbitMQ."""

from __future__ import annotations

import uuid

import pika

from workers.queues import delete_queues, names_under


def _exists(channel_of: pika.BlockingConnection, queue: str) -> bool:
    channel = channel_of.channel()
    try:
        channel.queue_declare(queue, passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker:
        return False
    finally:
        if channel.is_open:
            channel.close()


def test_deleting_a_prefix_removes_its_queues_and_leaves_others(rabbitmq: str) -> None:
    # Given the queues a worker declares under a prefix, holding a message, and a queue of a
    # neighbouring prefix
    prefix, neighbour = f"tq{uuid.uuid4().hex[:6]}.", f"tq{uuid.uuid4().hex[:6]}.events"
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq))
    try:
        channel = connection.channel()
        for queue in [*names_under(prefix), neighbour]:
            channel.queue_declare(queue)
        channel.basic_publish("", prefix + "events", b"left behind")
        # When the prefix's queues are deleted
        delete_queues(rabbitmq, prefix)
        # Then none of them is left, and the neighbour's queue is untouched
        assert [q for q in names_under(prefix) if _exists(connection, q)] == []
        assert _exists(connection, neighbour)
        # And deleting again is no error
        delete_queues(rabbitmq, prefix)
    finally:
        connection.channel().queue_delete(neighbour)
        connection.close()
