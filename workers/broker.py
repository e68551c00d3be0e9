"""The one broker module: builds the broker and its middleware once, from settings.

`dramatiq workers.broker actors.intake` runs a worker; actor modules import this module.
Nothing connects here: RabbitMQ connections and the Postgres pool open on first use.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import dramatiq
import pika.exceptions
from dramatiq.brokers.rabbitmq import RabbitmqBroker, _RabbitmqConsumer
from dramatiq.brokers.stub import StubBroker
from dramatiq.errors import DecodeError
from dramatiq.message import Message
from dramatiq.middleware import Middleware, Retries, TimeLimit

from store.db import Database
from workers import logs, tracing
from workers.middleware import DatabaseLifecycle, DeadLetters, LogContext, retry_policy
from workers.settings import Settings, get_settings

# Every worker process imports this module. Jobs allocate many short-lived objects (an order
# batch ~100k states and samples, a list refresh ~26k rows and lists) while the process holds
# its prefetched messages and loaded models: at the default thresholds (700, 10, 10) the
# cyclic collector rescans all of it again and again, a third of the checks' CPU per event
# (benchmarks/orders.py: ~375 -> ~250 us) and a fifth of a list refresh. What larder allocates
# is freed by reference counting (no cycles), so collecting rarely costs no memory to speak of.
gc.set_threshold(50_000, 20, 100)


def screen(body: bytes, limit: int) -> tuple[str, str] | None:
    """Why a raw delivery can never become a message, or None when it can."""
    if len(body) > limit:
        return "oversized", f"oversized payload: {len(body)} bytes, limit {limit}"
    try:
        Message.decode(body)
    except DecodeError as error:
        return "undecodable", f"not a Dramatiq message: {error.__cause__ or error}"
    return None


class _ScreeningConsumer(_RabbitmqConsumer):
    """Dead-letters oversized or undecodable deliveries with their reason recorded."""

    broker: LarderRabbitmqBroker

    def __init__(
        self, broker: LarderRabbitmqBroker, queue_name: str, prefetch: int, timeout: int
    ) -> None:
        super().__init__(broker, queue_name, prefetch, timeout)
        self.iterator = self._screened(self.iterator)

    def _screened(self, deliveries: Iterator[Any]) -> Iterator[Any]:
        for method, properties, body in deliveries:
            problem = None if method is None else screen(body, self.broker.max_message_bytes)
            if problem is None:
                yield method, properties, body
                continue
            try:
                self.broker.dead_letters.reject_raw(self.queue_name, body, *problem)
            except Exception as error:  # Postgres down: leave it unacked, reconnect, redeliver
                raise pika.exceptions.AMQPConnectionError(
                    f"cannot record rejection: {error}"
                ) from error
            self._nack(method.delivery_tag)
            yield None, None, None


class LarderRabbitmqBroker(RabbitmqBroker):
    def __init__(self, *, dead_letters: DeadLetters, max_message_bytes: int, **kw: Any) -> None:
        self.dead_letters = dead_letters
        self.max_message_bytes = max_message_bytes
        super().__init__(**kw)

    @property
    def consumer_class(self) -> type[_RabbitmqConsumer]:
        return _ScreeningConsumer


def middleware(
    settings: Settings, database: Database, dead_letters: DeadLetters
) -> list[Middleware]:
    # Only what larder uses: every middleware hook runs for every message.
    from workers.tracing import Tracing

    stack: list[Middleware] = [
        Tracing(),
        LogContext(),
        TimeLimit(time_limit=settings.time_limit_ms),
        Retries(
            min_backoff=settings.min_backoff_ms,
            max_backoff=settings.max_backoff_ms,
            retry_when=retry_policy(settings.max_retries_unexpected),
        ),
        DatabaseLifecycle(database),
        dead_letters,
    ]
    if settings.prometheus:
        from dramatiq.middleware.prometheus import Prometheus

        from workers.queue_wait import QueueWait

        stack[:0] = [Prometheus(), QueueWait()]
    return stack


def init_sentry(settings: Settings) -> None:
    if settings.sentry_dsn is None:
        return
    import sentry_sdk
    from sentry_sdk.integrations.dramatiq import DramatiqIntegration

    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.env,
        integrations=[DramatiqIntegration()],
    )


def build(settings: Settings) -> tuple[dramatiq.Broker, Database]:
    database = Database(settings.database_url.get_secret_value(), settings.db_pool_size)
    dead_letters = DeadLetters(database)
    stack = middleware(settings, database, dead_letters)
    if settings.broker == "stub":
        return StubBroker(middleware=stack), database
    rabbit = LarderRabbitmqBroker(
        url=settings.rabbitmq_url.get_secret_value(),
        confirm_delivery=True,
        middleware=stack,
        dead_letters=dead_letters,
        max_message_bytes=settings.max_message_bytes,
    )
    return rabbit, database


settings = get_settings()
logs.configure(settings.log_level, settings.log_format)
init_sentry(settings)
tracing.configure("larder")
broker, database = build(settings)
dramatiq.set_broker(broker)
