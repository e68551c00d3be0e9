"""Dead-letter replay: messages back from `<queue>.XQ` to their queue, signed again.

A replayed message is published by this process, so it carries this process's signature and
the current time: a message dead-lettered days ago passes the time window again. That is only
safe for messages that were authentic in the first place, so the original signature is checked
first, without the window: a forged, tampered or unsigned message (where signatures are
required) stays in the dead-letter queue. A replayed message starts its retries afresh. Each
one leaves the dead-letter queue only after RabbitMQ has confirmed its new copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pika
from dramatiq.common import q_name, xq_name
from dramatiq.errors import DecodeError
from dramatiq.message import Message

from workers import queues

SPENT_OPTIONS = ("retries", "traceback", "eta")


@dataclass
class ReplayReport:
    replayed: int = 0
    refused: list[str] = field(default_factory=list)  # why each message left behind stayed


def replay(broker: Any, workload: str, limit: int) -> ReplayReport:
    """Replay up to `limit` messages of the workload's dead-letter queue (oldest first)."""
    queue = queues.name(workload)
    report, kept = ReplayReport(), []
    connection = pika.BlockingConnection(broker.parameters)
    try:
        channel = connection.channel()
        for _ in range(limit):
            method, properties, body = channel.basic_get(xq_name(queue), auto_ack=False)
            if method is None:
                break
            found = _replayable(broker, queue, body, properties.headers)
            if isinstance(found, str):
                report.refused.append(found)
                kept.append(method.delivery_tag)
                continue
            broker.enqueue(found)  # confirmed by RabbitMQ when this returns
            channel.basic_ack(method.delivery_tag)
            report.replayed += 1
        for tag in kept:  # back into the dead-letter queue, for a person to look at
            channel.basic_nack(tag, requeue=True)
    finally:
        connection.close()
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
