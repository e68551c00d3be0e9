"""Dead-letter replay: messages back from `<queue>.XQ` to their queue, signed again
(`larder dlq replay`).

A replayed message is published by this process, so it carries this process's signature and
the current time: a message dead-lettered days ago passes the time window again. That is only
safe for messages that were authentic in the first place, so the original signature is checked
first, without the window: a forged, tampered or unsigned message (where signatures are
required) stays in the dead-letter queue. A replayed message starts its retries afresh and goes
through the same screening and validation as any other (one still invalid is dead-lettered
again, with its reason). Each one leaves the dead-letter queue only after RabbitMQ has confirmed
its new copy: when a publish fails, it and every message after it stay.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions
from dramatiq.common import q_name, xq_name
from dramatiq.errors import DecodeError
from dramatiq.message import Message

from workers import queues
from workers.dead_letter_queue import Letter, letter

SPENT_OPTIONS = ("retries", "traceback", "eta")


@dataclass
class ReplayReport:
    replayed: int = 0
    refused: list[str] = field(default_factory=list)  # why each message left behind stayed


def replay(
    broker: Any,
    workload: str,
    limit: int,
    wanted: Callable[[Letter], bool] | None = None,
    after: Callable[[Letter], None] | None = None,
) -> ReplayReport:
    """Replay up to `limit` messages of the workload's dead-letter queue (oldest first), those
    `wanted` picks (all when None); `after` runs for each once RabbitMQ confirmed it (it
    records the replay)."""
    queue = queues.name(workload)
    report = ReplayReport()
    connection = pika.BlockingConnection(broker.parameters)
    try:
        channel = connection.channel()
        try:
            depth = channel.queue_declare(xq_name(queue), passive=True).method.message_count
        except pika.exceptions.ChannelClosedByBroker:
            return report  # never declared: nothing was dead-lettered there
        kept = []
        for _ in range(min(depth, limit)):
            method, properties, body = channel.basic_get(xq_name(queue), auto_ack=False)
            if method is None:
                break
            found = letter(queue, body)
            if wanted is not None and not wanted(found):
                kept.append(method.delivery_tag)
                continue
            message = _replayable(broker, queue, body, properties.headers)
            if isinstance(message, str):
                report.refused.append(message)
                kept.append(method.delivery_tag)
                continue
            broker.enqueue(message)  # confirmed by RabbitMQ when this returns, or raises
            channel.basic_ack(method.delivery_tag)
            report.replayed += 1
            if after is not None:
                after(found)
        for tag in kept:  # back into the dead-letter queue, for a person to look at
            channel.basic_nack(tag, requeue=True)
    finally:
        connection.close()  # anything still unacknowledged goes back where it was
    return report


def _replayable(broker: Any, queue: str, body: bytes, headers: Any) -> Message[Any] | str:
    """The message to publish again, or why it stays dead."""
    verification = broker.screen.verification
    problem = verification.check(body, headers, queues.workload_of(queue), None)
    if problem is not None:
        return f"not replayed: {problem[1]}"
    try:
        message: Message[Any] = Message.decode(body)
    except DecodeError:
        return "not replayed: not a Dramatiq message"
    options = {k: v for k, v in message.options.items() if k not in SPENT_OPTIONS}
    return Message(
        queue_name=q_name(queue),
        actor_name=message.actor_name,
        args=message.args,
        kwargs=message.kwargs,
        options=options,
        message_id=message.message_id,
        message_timestamp=message.message_timestamp,
    )
