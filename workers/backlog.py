"""How many messages wait in a queue, asked over one long-lived connection per thread (pika is
not thread-safe) with a passive declare: cheap enough to ask before every sweep."""

from __future__ import annotations

import contextlib
import logging
import threading

import pika
import pika.exceptions

log = logging.getLogger("larder.backlog")


class QueueDepth:
    """Ready messages of a queue; None when RabbitMQ cannot tell (callers then carry on)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()

    def __call__(self, queue: str) -> int | None:
        try:
            channel = self._channel()
            return int(channel.queue_declare(queue, passive=True).method.message_count)
        except (pika.exceptions.AMQPError, OSError) as error:
            log.debug("cannot read the depth of %s: %s", queue, error)
            self.close()
            return None

    def _channel(self) -> pika.adapters.blocking_connection.BlockingChannel:
        channel = getattr(self._local, "channel", None)
        if channel is None or channel.is_closed:
            connection = getattr(self._local, "connection", None)
            if connection is None or connection.is_closed:
                params = pika.URLParameters(self.url)
                params.socket_timeout = params.blocked_connection_timeout = 2
                connection = self._local.connection = pika.BlockingConnection(params)
            channel = self._local.channel = connection.channel()
        return channel

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = self._local.channel = None
        if connection is not None and connection.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError):
                connection.close()
