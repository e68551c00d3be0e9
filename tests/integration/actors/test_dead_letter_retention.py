"""Dead-letter records keep bodies for debugging, for a while: pruned after the retention by a
scheduler duty, and stored redacted when LARDER_DEAD_LETTER_BODIES=redact."""

from __future__ import annotations

import json
from typing import Any

from dramatiq.broker import MessageProxy
from dramatiq.message import Message

from schemas import InvalidMessage
from tests.conftest import scalar
from workers.middleware import DeadLetters

HOME = {"type": "user.upserted", "home_lat": 60.123456, "home_lon": 24.987654}


def test_rejections_past_the_retention_are_pruned_by_the_scheduler(db: Any) -> None:
    from actors.maintenance import prune_rejections
    from workers.broker import settings

    # Given a rejection older than the retention and a recent one
    dead = DeadLetters(db)
    dead.reject_raw("events", b"old body", "undecodable", "not JSON")
    dead.reject_raw("events", b"new body", "undecodable", "not JSON")
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE rejected_messages SET rejected_at = now() - make_interval(days => %(d)s)"
            " WHERE raw_body = 'old body'",
            {"d": settings.dead_letter_retention_days + 1},
        )
    # When the duty runs / Then only the old one is gone
    assert prune_rejections() == 1
    assert scalar(db, "SELECT array_agg(raw_body) FROM rejected_messages") == ["new body"]


def test_bodies_can_be_stored_redacted(db: Any) -> None:
    # Given dead letters that redact bodies
    dead = DeadLetters(db, redact=True)
    body = json.dumps(HOME).encode()
    # When a raw delivery and a parsed message are rejected
    dead.reject_raw("events", body, "unsigned", "unsigned message")
    message = MessageProxy(Message("events", "ingest", (HOME,), {}, {}, message_id="m-red"))
    message.stuff_exception(InvalidMessage("home_lat: out of range"))
    dead.before_nack(None, message)  # type: ignore[arg-type]
    # Then both are recorded with their reasons, their bodies only as a length and a digest
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT reason, raw_body FROM rejected_messages").all()
    assert len(rows) == 2
    for reason, stored in rows:
        assert stored.startswith("[redacted: ") and "sha256" in stored
        assert "60.123456" not in stored and reason
