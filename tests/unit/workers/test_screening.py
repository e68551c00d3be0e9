"""Delivery screening (pure): what a raw delivery must pass before Dramatiq parses it, each
failure with its own reason, and no reason quoting the body."""

from __future__ import annotations

import json
from typing import Any

from domain.security.limits import PayloadLimits
from domain.security.signing import Keyring, Verification, sign
from workers.broker import Screen

NOW = 1_767_614_400_000
KEYRING = Keyring({"up-1": b"k" * 32}, "up-1")
ACTORS = {"ingest": "events", "refresh_lists": "recs"}


def screen(required: bool = False, **limits: int) -> Screen:
    return Screen(
        max_bytes=1024,
        verification=Verification(KEYRING, required),
        limits=PayloadLimits(**limits),
        actor_queue=ACTORS.get,
    )


def body(**fields: Any) -> bytes:
    envelope = {
        "queue_name": "events",
        "actor_name": "ingest",
        "args": [{"type": "user.upserted", "home_lat": 60.17}],
        "kwargs": {},
        "options": {},
        "message_id": "m-1",
        "message_timestamp": 0,
        **fields,
    }
    return json.dumps(envelope).encode()


def test_a_dramatiq_envelope_becomes_the_message() -> None:
    message = screen()("events", body(), None, NOW)
    assert not isinstance(message, tuple)
    assert message.message_id == "m-1" and message.args == (
        {"type": "user.upserted", "home_lat": 60.17},
    )


def test_garbage_bad_envelopes_and_oversized_bodies_are_refused_without_quoting_them() -> None:
    check = screen()
    assert check("events", b"\x00\xff secret", None, NOW) == (
        "undecodable",
        "not a Dramatiq message: not UTF-8 (byte 1)",
    )
    assert check("events", b"home 60.17 24.94", None, NOW) == (
        "undecodable",
        "not a Dramatiq message: not JSON (Expecting value at line 1 column 1)",
    )
    assert check("events", b'["60.17"]', None, NOW) == (
        "undecodable",
        "not a Dramatiq message: a JSON list, not an object",
    )
    assert check("events", b'{"queue_name": "q", "surprise": 1}', None, NOW) == (
        "undecodable",
        "not a Dramatiq message: missing actor_name, args, kwargs, options, message_id,"
        " message_timestamp; unknown keys surprise",
    )
    assert check("events", body(args={"home_lat": 60.17}), None, NOW) == (
        "undecodable",
        "not a Dramatiq message: args is not a list",
    )
    assert check("events", b"x" * 2000, None, NOW) == (
        "oversized",
        "oversized payload: 2000 bytes, limit 1024",
    )


def test_signatures_are_checked_before_the_body_is_decoded() -> None:
    # Given signatures are required
    check = screen(required=True)
    # Then garbage without a signature is refused as unsigned, not even decoded
    assert check("events", b"\xff", None, NOW)[0] == "unsigned"  # type: ignore[index]
    # And a signed message passes; the same bytes with another key id do not
    signed = body()
    headers = sign(KEYRING, signed, NOW)
    assert not isinstance(check("events", signed, headers, NOW), tuple)
    forged = {**headers, "larder-key-id": "up-2"}
    assert check("events", signed, forged, NOW) == (
        "unknown_key",
        "signed with unknown key id 'up-2'",
    )


def test_limits_are_checked_before_the_envelope_is_parsed() -> None:
    check = screen(max_string=100)
    found = check("events", body(args=[{"note": "n" * 101}]), None, NOW)
    assert found == (
        "string_too_long",
        "string too long: 101 characters at args[0].note, limit 100",
    )


def test_a_message_runs_only_on_its_own_queue() -> None:
    check = screen()
    # A message naming another queue than the one it came from
    assert check("events", body(queue_name="recs"), None, NOW) == (
        "wrong_queue",
        "queue_name 'recs' in a message delivered on 'events'",
    )
    # A message for an actor of another queue (a producer's key must not run a recs job)
    assert check("events", body(actor_name="refresh_lists"), None, NOW) == (
        "wrong_queue",
        "actor 'refresh_lists' consumes 'recs', not 'events'",
    )
    # Delayed copies on the delay queue belong to the queue's actors; unknown actors are left
    # to Dramatiq (dead-lettered as unknown actors)
    assert not isinstance(check("events.DQ", body(queue_name="events.DQ"), None, NOW), tuple)
    assert not isinstance(check("events", body(actor_name="nobody"), None, NOW), tuple)
