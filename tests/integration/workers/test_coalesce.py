"""Deliveries merged before a worker takes them (workers/coalesce.py), on the real RabbitMQ:
what waits in a consumer's prefetch of a merging actor becomes one message of its batch shape;
what the actor would not take alone, or that carries a retry, stays alone; a merged message is
acked, dead-lettered or redelivered as all of its deliveries."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from dramatiq.message import Message

from tests.conftest import RABBITMQ_URL, wait_for
from workers import coalesce
from workers.broker import build
from workers.queues import delete_queues
from workers.settings import get_settings

ACTOR = "merge_probe"


@pytest.fixture
def rule() -> Iterator[coalesce.Coalescing]:
    """A merging actor of this test: bodies {"n": int} merge; {"n": -1} it would refuse alone."""
    merged = coalesce.register(
        coalesce.Coalescing(
            ACTOR,
            single=lambda body: isinstance(body, dict) and body.get("n", -1) >= 0,
            merge=lambda bodies: {"batch": list(bodies)},
            limit=40,
        )
    )
    yield merged
    coalesce._BY_ACTOR.pop(ACTOR, None)


@pytest.fixture
def queue(rabbitmq: str, rule: coalesce.Coalescing) -> Iterator[tuple[Any, str]]:
    """A broker built as a worker builds it, with a queue of its own that the probe consumes."""
    import dramatiq

    prefix = f"merge{uuid.uuid4().hex[:8]}."
    broker, _ = build(get_settings())
    name = prefix + "q"
    dramatiq.actor(actor_name=ACTOR, queue_name=name, broker=broker)(lambda body: None)
    try:
        yield broker, name
    finally:
        broker.close()
        delete_queues(RABBITMQ_URL, prefix, ("q",))


def send(broker: Any, queue: str, bodies: list[Any], options: dict[str, Any] | None = None) -> None:
    for body in bodies:
        broker.enqueue(Message(queue, ACTOR, (body,), {}, dict(options or {})))


def take(consumer: Any, deliveries: int) -> list[Any]:
    """Messages from the consumer until they hold `deliveries` deliveries (or it times out)."""
    found: list[Any] = []
    for message in consumer:
        if message is None:
            break
        found.append(message)
        if sum(len(getattr(m, "tags", (m._tag,))) for m in found) >= deliveries:
            break
    return found


def settle(consumer: Any) -> None:
    """Wait until the consumer's connection has sent what its threads asked for."""
    consumer.connection.process_data_events(time_limit=0.2)


def ack_all(consumer: Any, messages: list[Any]) -> None:
    """Ack every message, then close the consumer once its connection has sent the acks."""
    for message in messages:
        consumer.ack(message)
    settle(consumer)
    consumer.close()


def counts(broker: Any, queue: str) -> tuple[int, int, int]:
    return broker.get_queue_message_counts(queue)


def consuming(broker: Any, queue: str, prefetch: int = 200) -> Any:
    """A consumer already consuming (its first, empty, wait over)."""
    started = broker.consume(queue, prefetch=prefetch, timeout=200)
    assert next(started) is None
    return started


def all_waiting(consumer: Any, deliveries: int) -> Any:
    """The consumer, once its prefetch buffer holds `deliveries` deliveries."""
    deadline = time.monotonic() + 10
    while consumer.channel.get_waiting_message_count() < deliveries:
        assert time.monotonic() < deadline, "the deliveries did not arrive"
        consumer.connection.process_data_events(time_limit=0.05)
    return consumer


def test_waiting_single_deliveries_become_one_message_acked_as_all(queue: Any) -> None:
    # Given 30 single bodies of a merging actor waiting for a consumer
    broker, name = queue
    consumer = consuming(broker, name)
    send(broker, name, [{"n": n} for n in range(30)])
    all_waiting(consumer, 30)
    # When the consumer hands out its next message
    [message] = take(consumer, 30)
    # Then it is one message of the actor's batch shape, in delivery order
    assert message.actor_name == ACTOR and message.options["merged"] == 30
    assert message.args == ({"batch": [{"n": n} for n in range(30)]},)
    # And acking it acks all 30: nothing is left in the queue, nothing is redelivered
    ack_all(consumer, [message])
    assert counts(broker, name) == (0, 0, 0)


def test_what_the_actor_would_refuse_alone_or_a_retry_is_never_merged(queue: Any) -> None:
    # Given single bodies with, among them, one the actor would refuse alone and one retry
    broker, name = queue
    consumer = consuming(broker, name)
    send(broker, name, [{"n": 0}, {"n": 1}, {"n": -1}, {"n": 3}])
    send(broker, name, [{"n": 4}], options={"retries": 1})
    send(broker, name, [{"n": 5}])
    all_waiting(consumer, 6)
    # When the consumer hands them out
    messages = take(consumer, 6)
    # Then the mergeable ones are one message, the others come alone, after it, in order
    assert [m.args[0] for m in messages] == [
        {"batch": [{"n": 0}, {"n": 1}, {"n": 3}, {"n": 5}]},
        {"n": -1},
        {"n": 4},
    ]
    assert messages[2].options == {"retries": 1}
    ack_all(consumer, messages)
    assert counts(broker, name) == (0, 0, 0)


def test_a_merged_message_holds_at_most_the_actors_limit(queue: Any) -> None:
    # Given 100 single bodies waiting, for an actor that merges at most 40
    broker, name = queue
    consumer = consuming(broker, name)
    send(broker, name, [{"n": n} for n in range(100)])
    all_waiting(consumer, 100)
    # When the consumer hands them out
    messages = take(consumer, 100)
    # Then they come in messages of 40, 40 and 20, each body once
    assert [m.options["merged"] for m in messages] == [40, 40, 20]
    bodies = [body["n"] for m in messages for body in m.args[0]["batch"]]
    assert bodies == list(range(100))
    ack_all(consumer, messages)


def test_a_merged_message_dead_lettered_dead_letters_every_delivery(queue: Any) -> None:
    # Given 12 single bodies merged into one message
    broker, name = queue
    consumer = consuming(broker, name)
    send(broker, name, [{"n": n} for n in range(12)])
    all_waiting(consumer, 12)
    [message] = take(consumer, 12)
    # When the message is nacked (given up: Dramatiq dead-letters it)
    consumer.nack(message)
    settle(consumer)
    consumer.close()
    # Then each of its 12 deliveries is in the dead-letter queue, none in the queue
    wait_for(lambda: counts(broker, name) == (0, 0, 12))


def test_a_merged_message_never_settled_is_redelivered_whole(queue: Any) -> None:
    # Given 12 single bodies merged into one message that a worker took
    broker, name = queue
    consumer = consuming(broker, name)
    send(broker, name, [{"n": n} for n in range(12)])
    all_waiting(consumer, 12)
    [message] = take(consumer, 12)
    assert message.options["merged"] == 12
    # When the worker's connection goes before the message is settled
    consumer.close()
    # Then all 12 deliveries come again, redelivered
    messages = come_again(broker, name, 12)
    assert all(m.redelivered for m in messages)


def numbers(message: Any) -> list[int]:
    body = message.args[0]
    return [b["n"] for b in body["batch"]] if "batch" in body else [body["n"]]


def come_again(broker: Any, queue: str, deliveries: int) -> list[Any]:
    """A new consumer's messages, once they hold bodies 0..deliveries-1 each once; acked."""
    again = broker.consume(queue, prefetch=200, timeout=500)
    messages = take(again, deliveries)
    assert sorted(n for m in messages for n in numbers(m)) == list(range(deliveries))
    ack_all(again, messages)
    assert counts(broker, queue) == (0, 0, 0)
    return messages


def test_a_delivery_alone_is_handed_out_alone(queue: Any) -> None:
    # Given one single body waiting
    broker, name = queue
    consumer = consuming(broker, name)
    send(broker, name, [{"n": 7}])
    all_waiting(consumer, 1)
    # When the consumer hands it out
    [message] = take(consumer, 1)
    # Then it is the delivery itself, not a batch of one
    assert message.args == ({"n": 7},) and "merged" not in message.options
    ack_all(consumer, [message])


def test_the_prefetch_rises_while_deliveries_merge_and_falls_back_for_others(
    queue: Any,
) -> None:
    # Given a consumer with a worker's small prefetch (5), and 105 single bodies sent: 5 reach it
    broker, name = queue
    consumer = consuming(broker, name, prefetch=5)
    send(broker, name, [{"n": n} for n in range(105)])
    all_waiting(consumer, 5)
    consumer.connection.process_data_events(time_limit=0.3)
    assert consumer.channel.get_waiting_message_count() == 5
    # When it merges what waits (and leaves it unsettled)
    [first] = take(consumer, 5)
    # Then the rest of the 105 reach it all the same (5 was the most before), and merge
    rest = 105 - len(first.tags)
    all_waiting(consumer, rest)
    later = take(consumer, rest)
    assert sum(len(m.tags) for m in later) == rest
    # And a delivery that does not merge sets it back to the worker's prefetch
    consumer._prefetch_set_at = float("-inf")  # (it changes at most once a second)
    send(broker, name, [{"n": -1}])
    [alone] = take(consumer, 1)
    assert alone.args == ({"n": -1},) and consumer._prefetch_now == 5
    ack_all(consumer, [first, *later, alone])
    assert counts(broker, name) == (0, 0, 0)


def gathered(consumer: Any, deliveries: int) -> None:
    """Turn the consumer until the message it is gathering holds `deliveries` deliveries: each
    turn hands out nothing while enough of the actor's messages are out."""
    deadline = time.monotonic() + 10
    while len(consumer._gathering) < deliveries:
        assert time.monotonic() < deadline, "the deliveries did not join"
        assert next(consumer) is None


def one_out(broker: Any, queue: str, rule: coalesce.Coalescing, out: int) -> tuple[Any, Any]:
    """A consumer of an actor that lets one merged message be out at a time, and that message,
    out (bodies 0..out-1), unsettled."""
    coalesce.register(replace(rule, in_flight=1))
    consumer = consuming(broker, queue)
    send(broker, queue, [{"n": n} for n in range(out)])
    all_waiting(consumer, out)
    [message] = take(consumer, out)
    return consumer, message


def test_while_enough_merged_messages_are_out_the_next_one_gathers_what_arrives(
    queue: Any, rule: coalesce.Coalescing
) -> None:
    # Given an actor that lets one merged message be out at a time, and one out already
    broker, name = queue
    consumer, out = one_out(broker, name, rule, 3)
    # When 10, then 5 more single bodies arrive while it runs
    send(broker, name, [{"n": n} for n in range(3, 13)])
    gathered(consumer, 10)
    send(broker, name, [{"n": n} for n in range(13, 18)])
    gathered(consumer, 15)
    # Then nothing more is handed out until it is settled, and then the 15 go as one message
    assert next(consumer) is None
    consumer.ack(out)
    [after] = take(consumer, 15)
    assert numbers(after) == list(range(3, 18)) and after.options["merged"] == 15
    ack_all(consumer, [after])
    assert counts(broker, name) == (0, 0, 0)


def test_a_full_gathered_message_goes_even_while_others_are_out(
    queue: Any, rule: coalesce.Coalescing
) -> None:
    # Given an actor (at most 40 per message) that lets one merged message be out, and one out
    broker, name = queue
    consumer, out = one_out(broker, name, rule, 2)
    # When 45 single bodies arrive while it runs
    send(broker, name, [{"n": n} for n in range(2, 47)])
    all_waiting(consumer, 45)
    # Then the next 40 go at once, as one message, and the last 5 wait until both are settled
    [full] = take(consumer, 40)
    assert numbers(full) == list(range(2, 42))
    gathered(consumer, 5)
    consumer.ack(out)
    assert next(consumer) is None
    consumer.ack(full)
    [rest] = take(consumer, 5)
    assert numbers(rest) == list(range(42, 47))
    ack_all(consumer, [rest])
    assert counts(broker, name) == (0, 0, 0)


def test_a_consumer_that_closes_while_gathering_leaves_its_deliveries_to_be_redelivered(
    queue: Any, rule: coalesce.Coalescing
) -> None:
    # Given a consumer gathering 6 deliveries while its one allowed message is out
    broker, name = queue
    consumer, _ = one_out(broker, name, rule, 1)  # never settled
    send(broker, name, [{"n": n} for n in range(1, 7)])
    gathered(consumer, 6)
    # When the worker stops (its connection closes) before any of it is settled
    consumer.close()
    # Then all 7 deliveries come again
    come_again(broker, name, 7)
