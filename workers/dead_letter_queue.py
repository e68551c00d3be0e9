"""The dead-letter queues (`<queue>.XQ`) as `larder dlq` reads and empties them.

Browsing takes messages without acknowledging them and closes the channel: RabbitMQ puts them
back where they were. Replaying publishes a message to its work queue on a channel with
publisher confirms and acknowledges (removes) it from the dead-letter queue only once RabbitMQ
confirmed the publish: a failed replay leaves it where it was. Purging acknowledges without
publishing.
"""

from __future__ import annotations

import contextlib
import json
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

    def replay_body(self) -> bytes:
        """The body to publish again: a Dramatiq message starts its retries afresh."""
        if self.message_id is None:
            return self.body
        envelope = json.loads(self.body)
        envelope["options"] = {
            k: v
            for k, v in envelope.get("options", {}).items()
            if k not in ("retries", "traceback")
        }
        return json.dumps(envelope, separators=(",", ":")).encode()


def letter(queue: str, body: bytes) -> Letter:
    try:
        message_id: str | None = Message.decode(body).message_id
    except DecodeError:
        message_id = None
    return Letter(queue, body, message_id)


class DeadLetterQueues:
    def __init__(self, url: str) -> None:
        self.url = url

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        params = pika.URLParameters(self.url)
        params.socket_timeout = params.blocked_connection_timeout = 10
        connection = pika.BlockingConnection(params)
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

    def take(
        self,
        queue: str,
        wanted: Callable[[Letter], bool],
        act: Callable[[Letter], None],
    ) -> int:
        """For each dead letter of `queue` that `wanted` picks: `act` on it, then remove it.
        When `act` raises, that letter and every one after it stay."""
        done = 0
        with self._connection() as connection:
            channel = connection.channel()
            for method, body in _take(channel, queue + ".XQ", BROWSE_MAX):
                found = letter(queue, body)
                if not wanted(found):
                    continue
                act(found)
                channel.basic_ack(method.delivery_tag)
                done += 1
            with contextlib.suppress(pika.exceptions.AMQPError):
                channel.close()
        return done

    def replay(
        self, queue: str, wanted: Callable[[Letter], bool], after: Callable[[Letter], None]
    ) -> int:
        """Publish each wanted letter back to `queue`, confirmed by the broker before it leaves
        the dead-letter queue; `after` runs once it has (records the replay)."""
        with self._connection() as connection:
            publisher = connection.channel()
            publisher.confirm_delivery()

            def publish(found: Letter) -> None:
                publisher.basic_publish(  # raises unless RabbitMQ confirms it
                    "",
                    queue,
                    found.replay_body(),
                    pika.BasicProperties(delivery_mode=2),
                    mandatory=True,
                )
                after(found)

            return self.take(queue, wanted, publish)


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
