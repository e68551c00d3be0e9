"""`larder dlq list|show|replay|purge` against the real RabbitMQ and Postgres: dead letters joined
with their recorded rejection, replayed through the same validation, purged on confirmation;
nothing leaves a dead-letter queue before RabbitMQ confirmed its replay."""

from __future__ import annotations

import json
import uuid
from typing import Any

import dramatiq
import pika
import pytest
from click.testing import CliRunner
from dramatiq.message import Message

from programs.cli import main
from tests.conftest import RABBITMQ_URL, scalar, wait_for
from tests.support.factories import venue
from workers import queues

EVENTS = queues.name(queues.EVENTS)


def send(broker: Any, actor: str, body: dict[str, Any], message_id: str) -> None:
    broker.enqueue(
        Message(
            queue_name=EVENTS,
            actor_name=actor,
            args=(body,),
            kwargs={},
            options={},
            message_id=message_id,
        )
    )


def waiting(queue: str = EVENTS) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        return int(
            connection.channel().queue_declare(queue + ".XQ", passive=True).method.message_count
        )
    finally:
        connection.close()


def listed(*args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(main, ["dlq", "list", "--json", *args])
    assert result.exit_code == 0, result.output
    return list(json.loads(result.output))


@pytest.fixture
def two_dead_letters(broker: Any, worker: Any, db: Any) -> Any:
    """An invalid venue, and a message for an actor this deployment does not have yet."""
    send(broker, "ingest", venue(rating=-1), "dlq-invalid")
    actor = f"later_{uuid.uuid4().hex[:8]}"  # a name no test has deployed
    send(broker, actor, {"venue": 7}, "dlq-missing-actor")
    wait_for(lambda: scalar(db, "SELECT count(*) FROM rejected_messages") == 2)
    wait_for(lambda: waiting() == 2)
    return broker, actor


def test_list_joins_the_dead_letter_queue_with_the_recorded_reasons(two_dead_letters: Any) -> None:
    # When the dead letters are listed, all and by reason
    rows = {r["message_id"]: r for r in listed("--queue", "events")}
    only = listed("--reason", "unknown actor")
    # Then both show with their reason, waiting in the dead-letter queue
    assert "rating" in rows["dlq-invalid"]["reason"]
    assert rows["dlq-missing-actor"]["reason"].startswith("unknown actor")
    assert all(r["in_queue"] for r in rows.values())
    assert [r["message_id"] for r in only] == ["dlq-missing-actor"]
    assert listed("--since", "2099-01-01T00:00:00Z") == []
    # And one shows in full, its body as JSON
    shown = CliRunner().invoke(main, ["dlq", "show", "dlq-invalid"])
    assert shown.exit_code == 0 and "in the dead-letter queue" in shown.output
    assert '"rating": -1' in shown.output


def test_replay_runs_the_same_validation_again(two_dead_letters: Any, db: Any) -> None:
    broker, actor = two_dead_letters
    # Given the missing actor is deployed now (the bug it failed on is fixed)
    done: list[int] = []

    @dramatiq.actor(actor_name=actor, queue_name=EVENTS, broker=broker)
    def later(body: dict[str, Any]) -> None:
        done.append(body["venue"])

    # When every dead letter is replayed
    result = CliRunner().invoke(main, ["dlq", "replay", "--yes"])
    # Then both were published again, confirmed
    assert result.exit_code == 0, result.output
    assert "replayed 2 messages" in result.output
    # And the fixed one succeeds, while the invalid one comes back with its reason
    wait_for(lambda: done == [7])
    wait_for(lambda: waiting() == 1)
    rows = {r["message_id"]: r for r in wait_for(lambda: [r for r in listed() if r["in_queue"]])}
    assert set(rows) == {"dlq-invalid"} and "rating" in rows["dlq-invalid"]["reason"]
    replayed = scalar(
        db, "SELECT replays FROM rejected_messages WHERE message_id = 'dlq-missing-actor'"
    )
    assert replayed == 1


def test_purge_asks_first_and_keeps_the_record(two_dead_letters: Any, db: Any) -> None:
    # When a purge of the invalid one is declined, then accepted
    declined = CliRunner().invoke(main, ["dlq", "purge", "--reason", "rating"], input="n\n")
    assert declined.exit_code != 0 and waiting() == 2
    accepted = CliRunner().invoke(main, ["dlq", "purge", "--reason", "rating"], input="y\n")
    # Then only it is gone from the queue, and its record says it was purged
    assert accepted.exit_code == 0, accepted.output
    assert "purged 1 message" in accepted.output
    assert waiting() == 1
    assert scalar(db, "SELECT count(*) FROM rejected_messages WHERE purged_at IS NOT NULL") == 1


def test_a_replay_rabbitmq_does_not_confirm_leaves_the_letters(
    two_dead_letters: Any, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker, _ = two_dead_letters
    # Given publishing fails (RabbitMQ does not confirm)
    from dramatiq.errors import ConnectionClosed

    from workers.replay import replay

    def refused(message: Any, **_: Any) -> Any:
        raise ConnectionClosed(OSError("no confirm"))

    monkeypatch.setattr(broker, "enqueue", refused)
    recorded: list[str] = []
    # When the dead letters are replayed, Then the replay fails
    with pytest.raises(ConnectionClosed):
        replay(broker, queues.EVENTS, 100, after=lambda x: recorded.append(x.fingerprint))
    # And both are still in the dead-letter queue, no replay recorded
    assert waiting() == 2 and recorded == []
    assert scalar(db, "SELECT sum(replays) FROM rejected_messages") == 0
