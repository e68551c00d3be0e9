"""Publishing that survives a RabbitMQ restart: every message is confirmed by the broker
(`confirm_delivery`) before the next is sent; when the connection drops, the same message is
sent again on a new one, with backoff, until it is confirmed or `give_up_s` have passed. So a
publisher resumes from its first unconfirmed message by itself, or stops with what it had
confirmed. Sending a message again that did land (its confirm was lost with the connection)
is harmless: events are idempotent by `event_id`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import dramatiq
import pika.exceptions
from dramatiq.errors import BrokerConnectionError

log = logging.getLogger("larder.publish")

RETRYABLE = (BrokerConnectionError, pika.exceptions.AMQPError, ConnectionError, OSError)
FIRST_CONTACT_S = 15.0  # before the first confirm: a broker restarting is back by then


class PublishInterrupted(Exception):
    """RabbitMQ did not confirm a message within the retry window. `confirmed` counts what was
    confirmed before it (a `PublishReport`)."""

    def __init__(self, confirmed: Any, error: BaseException, give_up_s: float) -> None:
        self.confirmed = confirmed
        self.error = error
        super().__init__(
            f"RabbitMQ confirmed {confirmed.events} events ({confirmed.messages} messages), then"
            f" did not answer for {give_up_s:g} s ({type(error).__name__}: {error}); nothing"
            " confirmed is lost, and running the same command again is safe (events are"
            " idempotent by event_id)"
        )


# Refusals, not outages: the credentials or permissions are wrong, and waiting will not help
REFUSED = (
    pika.exceptions.ProbableAuthenticationError,
    pika.exceptions.ProbableAccessDeniedError,
    pika.exceptions.AuthenticationError,
)


def refused(error: BaseException) -> bool:
    """Whether RabbitMQ refused us (Dramatiq wraps pika's error as the first argument)."""
    inner = error.args[0] if error.args and isinstance(error.args[0], BaseException) else None
    return isinstance(error, REFUSED) or isinstance(inner, REFUSED)


def enqueue_confirmed(
    broker: dramatiq.Broker,
    message: Any,
    give_up_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Enqueue until RabbitMQ confirms; raise the last error after `give_up_s` without one, and
    at once when RabbitMQ refuses the credentials or permissions."""
    deadline = time.monotonic() + give_up_s
    delay = 0.2
    while True:
        try:
            broker.enqueue(message)
            return
        except RETRYABLE as error:
            if refused(error) or time.monotonic() + delay > deadline:
                raise
            log.warning("RabbitMQ did not confirm a message (%s); sending it again", error)
            sleep(delay)
            delay = min(delay * 2, 5.0)


def quiet_reconnects() -> None:
    """For a publishing command: pika logs each failed reconnect at ERROR with a traceback;
    `enqueue_confirmed` already says, in one line, that it sends the message again."""
    logging.getLogger("pika").setLevel(logging.CRITICAL)
