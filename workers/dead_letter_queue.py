"""The dead-letter queues (`<queue>.XQ`) as `larder dlq` reads and empties them.

Browsing takes messages without acknowledging them and closes the channel: RabbitMQ puts them
back where they were. Purging acknowledges the chosen ones. Replaying: workers/replay.py
(it signs again what it publishes).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pika
import pika.exceptions
from dramatiq.errors import DecodeError
from dramatiq.message import Message

from store.dead_letters import message_fingerprint, raw_fingerprint

BROWSE_MAX = 10_000  # per dead-letter queue


@dataclass(frozen=True)
class Letter:
    """One dead-lettered message: the work queue it came from, its body, and the key of its
    recorded rejection."""

    queue: str
    body: bytes
    message_id: str | None

    @property
    def fingerprint(self) -> str:
        if self.message_id is None:
            return raw_fingerprint(self.queue, self.body)
        return message_fingerprint(self.queue, self.message_id)


def letter(queue: str, body: bytes) -> Letter:
    try:
        message_id: str | None = Message.decode(body).message_id
    except DecodeError:
        message_id = None
    return Letter(queue, body, message_id)


class DeadLetterQueues:
    def __init__(self, parameters: pika.connection.Parameters) -> None:
        self.parameters = parameters  # the broker's: credentials, TLS

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        connection = pika.BlockingConnection(self.parameters)
        try:
            yield connection
        finally:
            with contextlib.suppress(pika.exceptions.AMQPError):
                connection.close()

    def browse(self, queues: Iterable[str], limit: int = BROWSE_MAX) -> list[Letter]:
        """What waits in the dead-letter queues of `queues`, left where it is."""
        found: list[Letter] = []
        with self._connection() as connection:
            for queue in queues:
                channel = connection.channel()
                for _method, body in _take(channel, queue + ".XQ", limit):
                    found.append(letter(queue, body))
                with contextlib.suppress(pika.exceptions.AMQPError):
                    channel.close()  # unacknowledged: back in the queue, in order
        return found

    def purge(
        self, queue: str, wanted: Callable[[Letter], bool], after: Callable[[Letter], None]
    ) -> int:
        """Remove each dead letter of `queue` that `wanted` picks; `after` runs for each (it
        records the purge)."""
        done = 0
        with self._connection() as connection:
            channel = connection.channel()
            for method, body in _take(channel, queue + ".XQ", BROWSE_MAX):
                found = letter(queue, body)
                if wanted(found):
                    channel.basic_ack(method.delivery_tag)
                    after(found)
                    done += 1
            with contextlib.suppress(pika.exceptions.AMQPError):
                channel.close()
        return done


def _take(channel: Any, queue: str, limit: int) -> Iterator[tuple[Any, bytes]]:
    """Up to `limit` messages of `queue`, as many as it held when asked, unacknowledged."""
    try:
        depth = channel.queue_declare(queue, passive=True).method.message_count
    except pika.exceptions.ChannelClosedByBroker:
        return  # never declared: nothing was dead-lettered there
    for _ in range(min(depth, limit)):
        method, _properties, body = channel.basic_get(queue, auto_ack=False)
        if method is None:
            return
        yield method, body
