"""The one broker module: builds the broker and its middleware once, from settings.

`dramatiq workers.broker actors.intake` runs a worker; actor modules import this module.
Nothing connects here: RabbitMQ connections and the Postgres pool open on first use.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import dramatiq
import pika
import pika.exceptions
from dramatiq.brokers.rabbitmq import RabbitmqBroker, _RabbitmqConsumer, _RabbitmqMessage
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import q_name
from dramatiq.errors import ConnectionClosed
from dramatiq.message import Message
from dramatiq.middleware import Middleware, Retries, TimeLimit

from domain.security.limits import PayloadLimits
from domain.security.signing import Keyring, Verification, sign
from store.db import Database
from workers import amqp, coalesce, logs, metrics, queues, tracing
from workers.middleware import DatabaseLifecycle, DeadLetters, LogContext, retry_policy
from workers.sentry import init_sentry
from workers.settings import Settings, get_settings

Problem = tuple[str, str]  # (kind, reason) of a rejected delivery
GATHER_WAIT_S = 0.005  # a gathering consumer's wait for its deliveries and acks, per turn

log = logging.getLogger("larder.broker")

# Every worker process imports this module. Jobs allocate many short-lived objects (an order
# batch ~100k states and samples, a list refresh ~26k rows and lists) while the process holds
# its prefetched messages and loaded models: at the default thresholds (700, 10, 10) the
# cyclic collector rescans all of it again and again, a third of the checks' CPU per event
# (benchmarks/orders.py: ~375 -> ~250 us) and a fifth of a list refresh. What larder allocates
# is freed by reference counting (no cycles), so collecting rarely costs no memory to speak of.
gc.set_threshold(50_000, 20, 100)


@dataclass(frozen=True)
class Screen:
    """What a raw delivery must pass before Dramatiq sees it, cheapest first: its size, its
    signature (over the bytes as delivered), then, decoded once, the payload limits, the
    envelope's shape, and that the message belongs on the queue it came from (a key allowed
    on `events` must not run a `recs` job by naming its actor)."""

    max_bytes: int
    verification: Verification
    limits: PayloadLimits
    actor_queue: Callable[[str], str | None]  # actor name -> its queue (None: unknown actor)

    def __call__(
        self, queue_name: str, body: bytes, headers: Mapping[str, object] | None, now_ms: int
    ) -> Message[Any] | Problem:
        """The message, or (kind, reason) when it must be dead-lettered unparsed."""
        if len(body) > self.max_bytes:
            return "oversized", f"oversized payload: {len(body)} bytes, limit {self.max_bytes}"
        canonical = q_name(queue_name)
        problem = self.verification.check(body, headers, queues.workload_of(canonical), now_ms)
        if problem is not None:
            return problem
        fields = decode(body)
        if isinstance(fields, tuple):
            return fields
        problem = self.limits.check(fields)
        if problem is not None:
            return problem
        if not isinstance(fields.get("args", []), list):
            return "undecodable", "not a Dramatiq message: args is not a list"
        try:
            fields["args"] = tuple(fields["args"])
            message: Message[Any] = Message(**fields)
        except (KeyError, TypeError) as error:
            return "undecodable", f"not a Dramatiq message: {envelope_problem(fields, error)}"
        return self._placed(message, queue_name, canonical)

    def merge_limits(self, rule: coalesce.Coalescing) -> tuple[int, int]:
        """(deliveries, bytes of their bodies) a merged message may hold: what this screen
        admits again when a retry re-publishes it, with room to spare for the envelope and
        JSON's escapes."""
        count = min(rule.limit, self.limits.max_batch, self.limits.max_list)
        return count, self.max_bytes // 4

    def _placed(
        self, message: Message[Any], queue_name: str, canonical: str
    ) -> Message[Any] | Problem:
        if message.queue_name != queue_name:
            return "wrong_queue", (
                f"queue_name {str(message.queue_name)[:100]!r} in a message delivered on"
                f" {queue_name!r}"
            )
        actor_queue = self.actor_queue(str(message.actor_name))
        if actor_queue is not None and actor_queue != canonical:
            return "wrong_queue", (
                f"actor {str(message.actor_name)[:100]!r} consumes {actor_queue!r}, not"
                f" {canonical!r}"
            )
        return message


def decode(body: bytes) -> dict[str, Any] | Problem:
    """The body as a JSON object, or why it is not one (never quoting the body itself)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        return "undecodable", f"not a Dramatiq message: not UTF-8 (byte {error.start})"
    try:
        fields = json.loads(text)
    except json.JSONDecodeError as error:
        return "undecodable", (
            f"not a Dramatiq message: not JSON ({error.msg} at line {error.lineno} column"
            f" {error.colno})"
        )
    except RecursionError:
        return "too_deep", "nested too deep to decode"
    if not isinstance(fields, dict):
        return (
            "undecodable",
            f"not a Dramatiq message: a JSON {type(fields).__name__}, not an object",
        )
    return fields


ENVELOPE = (
    "queue_name",
    "actor_name",
    "args",
    "kwargs",
    "options",
    "message_id",
    "message_timestamp",
)


def envelope_problem(fields: dict[str, Any], error: Exception) -> str:
    missing = [k for k in ENVELOPE if k not in fields]
    unknown = [str(k)[:40] for k in fields if k not in ENVELOPE][:5]
    if missing or unknown:
        parts = [f"missing {', '.join(missing)}"] if missing else []
        parts += [f"unknown keys {', '.join(unknown)}"] if unknown else []
        return "; ".join(parts)
    return f"{type(error).__name__} in the envelope's fields"


class _ScreeningConsumer(_RabbitmqConsumer):
    """Screens every delivery (`Screen`) before Dramatiq sees it, and dead-letters what fails
    with its reason recorded and counted: never retried, never parsed further.

    Acks are coalesced. Dramatiq's worker threads ack one message each through
    `add_callback_threadsafe`: a wake-up of the connection's thread per message, then a
    blocking flush per ack -- with cheap messages, most of a worker's CPU (benchmarks/orders.py:
    a no-op actor spent more time acking than receiving). Here a thread adds its tag to a list
    and only the first one since the last flush wakes the connection's thread, which acks
    every tag listed with one flush. Nothing is acked before its worker asks; an ack pending
    when the connection drops is lost with the connection, and its message redelivered, as
    before."""

    broker: LarderRabbitmqBroker

    def __init__(self, broker: Any, queue_name: str, prefetch: int, timeout: int) -> None:
        merges = broker.merges(queue_name) and not queue_name.endswith(".DQ")
        most = max(prefetch, coalesce.PREFETCH) if merges else prefetch
        super().__init__(broker, queue_name, most, timeout)  # the consumer's own limit
        self._acks_lock = threading.Lock()
        self._acks: list[int] = []
        self._held: deque[_Delivery] = deque()  # taken while merging, not merged
        # While deliveries do not merge, the channel's limit keeps the consumer's to Dramatiq's
        # (RabbitMQ applies a new consumer limit to later consumers only; a channel's at once).
        self._prefetch, self._prefetch_merging = prefetch, most
        self._prefetch_now = most
        if most != prefetch:
            self._set_prefetch(prefetch)
        self._prefetch_set_at = -math.inf
        self._gathering: list[_Delivery] = []  # a merged message growing while others run
        # first tags of the merging actor's messages out; added here, discarded by the threads
        self._flying: set[int] = set()

    def ack(self, message: Any) -> None:
        self._landed(message)
        tags = self._known(message, "ack")
        if not tags:
            return
        with self._acks_lock:
            first = not self._acks
            self._acks += tags
        if first:
            try:
                self.connection.add_callback_threadsafe(self._flush_acks)
            except pika.exceptions.AMQPError as error:
                raise ConnectionClosed(error) from None

    def nack(self, message: Any) -> None:
        self._landed(message)
        try:
            for tag in self._known(message, "nack"):
                self._nack(tag)
        except pika.exceptions.AMQPError as error:
            raise ConnectionClosed(error) from None

    def _known(self, message: Any, what: str) -> list[int]:
        """The delivery tags of a message (several for a merged one) still to settle."""
        tags = [tag for tag in getattr(message, "tags", (message._tag,)) if tag in self.known_tags]
        if not tags:
            log.warning("Failed to %s message: not in known tags.", what)
        self.known_tags.difference_update(tags)
        return tags

    def _flush_acks(self) -> None:
        """On the connection's thread: ack every listed tag, flushing once."""
        with self._acks_lock:
            tags, self._acks = self._acks, []
        if not tags:
            return
        for tag in tags[:-1]:
            self.channel._impl.basic_ack(tag)
        self.channel.basic_ack(tags[-1])

    def __next__(self) -> Any:
        if self._held:
            return self._held.popleft()
        if self._gathering:
            return self._gather()
        found = self._receive()
        if found is None or self._prefetch_merging == self._prefetch:
            return found
        merging = _mergeable(found)
        self._adapt_prefetch(merging)
        if not merging:
            return found
        self._gathering = [found]
        return self._gather()

    def _gather(self) -> _Delivery | None:
        """The merged message being gathered, once it may go: when fewer of its actor's
        messages than the rule's `in_flight` are out, or it is full. Until then the deliveries
        that arrive join it (group commit: while a batch runs, the next one grows) and this
        returns None after at most a few milliseconds of the connection's I/O (its acks)."""
        parts = self._gathering
        rule = coalesce.of(parts[0].actor_name)
        assert rule is not None
        limit, room = self.broker.screen.merge_limits(rule)
        full = self._take_waiting(parts, limit, room)
        if not full and len(self._flying) >= rule.in_flight:
            try:
                self.connection.process_data_events(time_limit=GATHER_WAIT_S)
            except pika.exceptions.AMQPError as error:
                raise ConnectionClosed(error) from None
            return None
        self._gathering = []
        found = parts[0] if len(parts) == 1 else _MergedMessage(parts, rule)
        if len(parts) > 1:
            metrics.MERGED.labels(q_name(self.queue_name)).inc(len(parts))
        self._flying.add(found._tag)
        return found

    def _take_waiting(self, parts: list[_Delivery], limit: int, room: int) -> bool:
        """Add the deliveries already waiting that may join `parts` (others that wait with
        them are held, in their order); whether `parts` is full."""
        size = sum(part.size for part in parts)
        while len(parts) < limit and size < room and self.channel.get_waiting_message_count():
            found = self._receive()
            if found is None:
                continue
            if found.actor_name == parts[0].actor_name and _mergeable(found):
                parts.append(found)
                size += found.size
            else:
                self._held.append(found)
        return len(parts) >= limit or size >= room

    def _landed(self, message: Any) -> None:
        """A message of the merging actor is settled: one fewer out."""
        self._flying.discard(message._tag)

    def _adapt_prefetch(self, merging: bool, every_s: float = 1.0) -> None:
        """Prefetch many deliveries while they merge, Dramatiq's two per thread otherwise:
        a process holding a thousand batches of a thousand events would hold a million
        events and leave the other processes none. Changed at most once per `every_s`."""
        wanted = self._prefetch_merging if merging else self._prefetch
        if wanted != self._prefetch_now and time.monotonic() - self._prefetch_set_at >= every_s:
            self._set_prefetch(wanted)

    def _set_prefetch(self, count: int) -> None:
        try:
            self.channel.basic_qos(prefetch_count=count, global_qos=True)
        except pika.exceptions.AMQPError as error:
            raise ConnectionClosed(error) from None
        self._prefetch_now, self._prefetch_set_at = count, time.monotonic()

    def _receive(self) -> _Delivery | None:
        """The next delivery as a message, or None (none came, or it was dead-lettered)."""
        try:
            method, properties, body = next(self.iterator)
        except (AssertionError, pika.exceptions.AMQPError) as error:  # as Dramatiq's consumer
            if getattr(error, "reply_code", None) == 404:
                self.broker.queues_pending.add(q_name(self.queue_name))
            raise ConnectionClosed(error) from None
        if method is None:
            return None
        headers = properties.headers if properties is not None else None
        found = self.broker.screen(self.queue_name, body, headers, _now_ms())
        if isinstance(found, tuple):
            self._reject(method.delivery_tag, body, found)
            return None
        self.known_tags.add(method.delivery_tag)
        return _Delivery(method.redelivered, method.delivery_tag, found, len(body))

    def _reject(self, tag: int, body: bytes, problem: Problem) -> None:
        try:
            self.broker.dead_letters.reject_raw(self.queue_name, body, *problem)
        except Exception as error:  # Postgres down: leave it unacked, reconnect, redeliver
            raise ConnectionClosed(
                pika.exceptions.AMQPConnectionError(f"cannot record rejection: {error}")
            ) from error
        self._nack(tag)


class _Delivery(_RabbitmqMessage):
    """A screened delivery, with its body's size."""

    def __init__(self, redelivered: bool, tag: int, message: Message[Any], size: int) -> None:
        super().__init__(redelivered, tag, message)
        self.size = size


class _MergedMessage(_Delivery):
    """One message made of several deliveries of the same actor (workers/coalesce.py): settled
    (acked or nacked) together, as one."""

    def __init__(self, parts: list[_Delivery], rule: coalesce.Coalescing) -> None:
        first = parts[0]
        options = {k: v for k, v in first.options.items() if k in coalesce.MERGEABLE_OPTIONS}
        message: Message[Any] = Message(
            queue_name=first.queue_name,
            actor_name=first.actor_name,
            args=(rule.merge([part.args[0] for part in parts]),),
            kwargs={},
            options={**options, "merged": len(parts)},
            message_id=str(uuid.uuid4()),
            message_timestamp=min(part.message_timestamp for part in parts),
        )
        redelivered = any(part.redelivered for part in parts)
        super().__init__(redelivered, first._tag, message, sum(part.size for part in parts))
        self.tags = tuple(part._tag for part in parts)


def _mergeable(message: _Delivery) -> bool:
    return coalesce.mergeable(message.actor_name, message.args, message.kwargs, message.options)


class _SigningChannel:
    """The publishing channel of a process that signs: every publish carries the signature
    headers of its body, made with the process's key at the time of sending. Dramatiq's
    retries and delays re-publish through here too, so what a worker re-enqueues is signed
    again by the worker, whatever the original's age."""

    def __init__(self, channel: Any, keyring: Keyring) -> None:
        self._channel = channel
        self._keyring = keyring

    def basic_publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: pika.BasicProperties | None = None,
        mandatory: bool = False,
    ) -> None:
        properties = properties or pika.BasicProperties()
        properties.headers = {**(properties.headers or {}), **sign(self._keyring, body, _now_ms())}
        self._channel.basic_publish(exchange, routing_key, body, properties, mandatory)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._channel, name)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class LarderRabbitmqBroker(RabbitmqBroker):
    """Dramatiq's RabbitMQ broker, screening what it consumes and signing what it publishes.
    Tests swap `screen` and `keyring` (frozen values) to change the policy."""

    def __init__(
        self,
        *,
        dead_letters: DeadLetters,
        parameters: pika.URLParameters,
        max_message_bytes: int,
        verification: Verification,
        limits: PayloadLimits,
        declares: bool = True,
        **kw: Any,
    ) -> None:
        super().__init__(url="amqp://", **kw)
        self.parameters = parameters
        self.declares = declares
        self.dead_letters = dead_letters
        self.keyring = verification.keyring
        self.screen = Screen(max_message_bytes, verification, limits, self._actor_queue)

    def _ensure_queue(self, queue_name: str) -> None:
        """A producer (LARDER_DECLARE_QUEUES=false) publishes to queues the workers declared:
        its user may not declare (a queue missing is an unroutable publish, an error)."""
        if self.declares:
            super()._ensure_queue(queue_name)
        else:
            self.queues_pending.discard(queue_name)

    def _actor_queue(self, actor_name: str) -> str | None:
        actor = self.actors.get(actor_name)
        return None if actor is None else str(actor.queue_name)

    def merges(self, queue_name: str) -> bool:
        """Whether an actor of this queue merges its deliveries (workers/coalesce.py)."""
        canonical = q_name(queue_name)
        return any(
            coalesce.of(name) is not None
            for name, actor in self.actors.items()
            if actor.queue_name == canonical
        )

    @property
    def consumer_class(self) -> type[_RabbitmqConsumer]:
        return _ScreeningConsumer

    @property
    def channel(self) -> Any:
        channel = RabbitmqBroker.channel.fget(self)  # type: ignore[attr-defined]
        return _SigningChannel(channel, self.keyring) if self.keyring.signs else channel

    @channel.deleter
    def channel(self) -> None:
        RabbitmqBroker.channel.fdel(self)  # type: ignore[attr-defined]


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


def build(settings: Settings) -> tuple[dramatiq.Broker, Database]:
    database = Database(settings.database_url.get_secret_value(), settings.db_pool_size)
    dead_letters = DeadLetters(database, redact=settings.dead_letter_bodies == "redact")
    stack = middleware(settings, database, dead_letters)
    verification = settings.verification()
    if verification.required and not verification.keyring.keys:
        raise RuntimeError(
            "signatures are required (LARDER_ENV=production or LARDER_SIGNATURES=required) but"
            " no signing key is set: LARDER_SIGNING_KEYS or LARDER_SIGNING_KEYS_FILE"
        )
    if settings.broker == "stub":
        if verification.required:
            raise RuntimeError("the in-memory broker carries no signatures: LARDER_SIGNATURES")
        return StubBroker(middleware=stack), database
    rabbit = LarderRabbitmqBroker(
        parameters=amqp.parameters(
            settings.rabbitmq_url.get_secret_value(),
            settings.amqp_ca_file,
            settings.amqp_cert_file,
            settings.amqp_key_file,
        ),
        confirm_delivery=True,
        middleware=stack,
        dead_letters=dead_letters,
        max_message_bytes=settings.max_message_bytes,
        verification=verification,
        limits=settings.payload_limits(),
        declares=settings.declare_queues,
    )
    return rabbit, database


settings = get_settings()
logs.configure(settings.log_level, settings.log_format)
init_sentry(settings)
tracing.configure("larder")
broker, database = build(settings)
dramatiq.set_broker(broker)
