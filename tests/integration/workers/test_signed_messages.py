"""Signed messages on the real RabbitMQ: what is refused before parsing (each with its reason,
recorded, counted, never retried), and what legitimately passes again: Dramatiq's retries and
a dead-letter replay, long after the original signature's time window."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
from dramatiq.common import xq_name
from prometheus_client import REGISTRY

from tests.conftest import scalar, wait_for
from tests.support import signing
from tests.support.factories import venue
from workers import queues
from workers.replay import replay

EVENTS = queues.name(queues.EVENTS)
RECS = queues.name(queues.RECS)


@pytest.fixture
def required(broker: Any, worker: Any) -> Iterator[Any]:
    """Signatures required; known keys upstream-1 and fleet-1, upstream-0 retired; the
    process signs with fleet-1. Windows of 60 s."""
    with signing.policy(broker, required=True):
        yield broker


def rejected(kind: str) -> float:
    labels = {"queue_name": EVENTS, "actor_name": "", "kind": kind}
    return REGISTRY.get_sample_value("larder_rejected_messages_total", labels) or 0.0


def ingest(venue_id: int, queue: str = EVENTS, actor: str = "ingest") -> bytes:
    return signing.envelope(queue, actor, venue(f"v{venue_id}", venue_id), str(uuid.uuid4()))


def test_every_bad_signature_is_dead_lettered_with_its_reason_counted_and_not_retried(
    required: Any, db: Any, rabbitmq: str
) -> None:
    # Given one legitimately signed message, and one of each kind a worker must refuse
    now = time.time_ns() // 1_000_000
    tampered = signed(ingest(2), signing.UPSTREAM)
    deliveries = {
        "good": signed(ingest(1), signing.UPSTREAM),
        "unsigned": (ingest(3), None),
        "forged": (
            ingest(4),
            {**signed(ingest(4), signing.UPSTREAM)[1], "larder-signature": "ab" * 32},
        ),
        "tampered": (tampered[0].replace(b'"venue_id": 2', b'"venue_id": 9'), tampered[1]),
        "unknown": signed(ingest(5), ("upstream-9", b"x" * 32)),
        "retired": signed(ingest(6), signing.RETIRED),
        "replayed": signed(ingest(7), signing.UPSTREAM, now - 3_600_000),
        "not_for_recs": signed(ingest(8, RECS, "refresh_lists"), signing.UPSTREAM),
    }
    # (the key upstream-1 is limited to intake's queues for the last one)
    counts = {
        kind: rejected(kind)
        for kind in ("unsigned", "bad_signature", "unknown_key", "retired_key", "outside_window")
    }
    required.screen = _limit_key(required.screen, "upstream-1", {"events", "order_checks"})
    # When they are published raw, as any AMQP client would
    signing.publish_raw(rabbitmq, EVENTS, [d for k, d in deliveries.items() if k != "not_for_recs"])
    signing.publish_raw(rabbitmq, RECS, [deliveries["not_for_recs"]])
    # Then only the good one lands
    wait_for(lambda: scalar(db, "SELECT count(*) FROM rejected_messages") == 7)
    assert scalar(db, "SELECT array_agg(venue_id) FROM venues") == [1]
    # And each refusal is recorded with its reason (before parsing: no message id, no actor)
    with db.engine.connect() as conn:
        reasons = dict(
            conn.exec_driver_sql(
                "SELECT raw_body::json->'args'->0->>'venue_id', reason FROM rejected_messages"
                " WHERE message_id IS NULL AND actor_name IS NULL"
            ).all()
        )
    assert reasons["3"] == "unsigned message: signatures are required (see docs/security.md)"
    assert reasons["4"].startswith("signature does not match (key id 'upstream-1')")
    assert reasons["9"].startswith("signature does not match (key id 'upstream-1')")
    assert reasons["5"] == "signed with unknown key id 'upstream-9'"
    assert reasons["6"] == "signed with retired key id 'upstream-0'"
    assert reasons["7"].startswith("signed 3600 s ago, outside the window (60 s back")
    assert reasons["8"] == "key id 'upstream-1' may not sign for the recs queue"
    # And counted by kind
    assert rejected("unsigned") == counts["unsigned"] + 1
    assert rejected("bad_signature") == counts["bad_signature"] + 2
    assert rejected("unknown_key") == counts["unknown_key"] + 1
    assert rejected("retired_key") == counts["retired_key"] + 1
    assert rejected("outside_window") == counts["outside_window"] + 1
    # And dead-lettered once each, never retried (nothing waits on the delay queue)
    wait_for(lambda: required.get_queue_message_counts(EVENTS) == (0, 0, 6))
    wait_for(lambda: required.get_queue_message_counts(RECS)[2] == 1)


def signed(
    body: bytes, key: tuple[str, bytes], at_ms: int | None = None
) -> tuple[bytes, dict[str, Any]]:
    return body, signing.signed_by(key, body, at_ms)


def _limit_key(screen: Any, key_id: str, workloads: set[str]) -> Any:
    import dataclasses

    verification = screen.verification
    ring = dataclasses.replace(verification.keyring, workloads={key_id: frozenset(workloads)})
    return dataclasses.replace(screen, verification=dataclasses.replace(verification, keyring=ring))


class Flaky:
    """An actor on the events queue that fails the first `failures` times (with `error`: a
    transient one retries until it succeeds, a bug a few times), after sleeping `pause_s`."""

    def __init__(
        self, broker: Any, failures: int, pause_s: float, error: type[Exception] = ConnectionError
    ) -> None:
        self.calls: list[str] = []
        self.failures, self.pause_s, self.error = failures, pause_s, error
        self.lock = threading.Lock()
        name = f"flaky_{uuid.uuid4().hex[:8]}"
        decorate = dramatiq.actor(actor_name=name, queue_name=EVENTS, broker=broker)
        self.actor = decorate(self.run)

    def run(self, value: str) -> None:
        with self.lock:
            self.calls.append(value)
            failing = len(self.calls) <= self.failures
        if failing:
            time.sleep(self.pause_s)
            raise self.error("failed on purpose")


def test_dramatiq_retries_pass_although_the_original_signature_has_expired(
    required: Any, db: Any, rabbitmq: str
) -> None:
    # Given a window of 2 s, and a message its producer signed 1.5 s ago
    with signing.policy(required, required=True, max_age_ms=2_000):
        flaky = Flaky(required, failures=1, pause_s=1.0)
        body = signing.envelope(EVENTS, flaky.actor.actor_name, "job", str(uuid.uuid4()))
        headers = signing.signed_by(signing.UPSTREAM, body, time.time_ns() // 1_000_000 - 1_500)
        # When its actor fails transiently once (after 1 s), and Dramatiq retries it
        signing.publish_raw(rabbitmq, EVENTS, [(body, headers)])
        # Then the retry (re-enqueued by the worker, signed by the worker now) runs and succeeds
        wait_for(lambda: len(flaky.calls) == 2, timeout=30)
        time.sleep(0.3)
        assert scalar(db, "SELECT count(*) FROM rejected_messages") == 0
        # While the original, delivered again as it was, is refused as a replay
        signing.publish_raw(rabbitmq, EVENTS, [(body, headers)])
        wait_for(lambda: scalar(db, "SELECT count(*) FROM rejected_messages") == 1)
        assert "outside the window" in scalar(db, "SELECT reason FROM rejected_messages")
        assert len(flaky.calls) == 2


def test_a_dead_letter_replay_signs_authentic_messages_again_and_leaves_forgeries(
    required: Any, db: Any, rabbitmq: str
) -> None:
    # Given a signed message dead-lettered by a bug (its retries exhausted) and a forged one
    with signing.policy(required, required=True, max_age_ms=2_000):
        flaky = Flaky(required, failures=10**6, pause_s=0.0, error=RuntimeError)
        body = signing.envelope(EVENTS, flaky.actor.actor_name, "job", str(uuid.uuid4()))
        forged = signing.envelope(EVENTS, flaky.actor.actor_name, "forged", str(uuid.uuid4()))
        signing.publish_raw(rabbitmq, EVENTS, [(body, signing.signed_by(signing.UPSTREAM, body))])
        signing.publish_raw(
            rabbitmq, EVENTS, [(forged, {**signing.signed_by(signing.UPSTREAM, body)})]
        )
        wait_for(lambda: required.get_queue_message_counts(EVENTS)[2] == 2)
        # When the bug is fixed and, after the original's window has passed, the queue replayed
        attempts = len(flaky.calls)
        flaky.failures = 0
        time.sleep(2.1)
        report = replay(required, queues.EVENTS, limit=10)
        # Then the authentic message runs, the forged one stays dead-lettered with its reason
        wait_for(lambda: len(flaky.calls) == attempts + 1)
        assert flaky.calls[-1] == "job"
        assert report.replayed == 1 and len(report.refused) == 1
        assert report.refused[0].startswith("not replayed: signature does not match")
        assert flaky.calls.count("forged") == 0
        assert required.get_queue_message_counts(EVENTS)[2] == 1
    required.channel.queue_purge(xq_name(EVENTS))


def test_the_python_client_and_larder_intake_publish_sign_what_they_send(
    required: Any, db: Any, tmp_path: Any
) -> None:
    from click.testing import CliRunner

    from programs.cli import main
    from workers.publishing import publish

    # Given workers that require signatures, and a file of events
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(venue(f"f{i}", venue_id=i)) for i in range(1, 4)))
    # When the Python client publishes events, and `larder intake publish` a file
    report = publish(required, [venue(f"p{i}", venue_id=i) for i in range(11, 14)])
    result = CliRunner().invoke(main, ["intake", "publish", str(events)])
    # Then every event lands: both signed with the process's key
    assert result.exit_code == 0, result.output
    assert report.events == 3
    wait_for(lambda: scalar(db, "SELECT count(*) FROM venues") == 6)
    assert scalar(db, "SELECT count(*) FROM rejected_messages") == 0
