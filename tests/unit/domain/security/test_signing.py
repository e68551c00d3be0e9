"""Message signatures (pure): what verifies, and each reason a delivery is refused."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from domain.security import signing
from domain.security.signing import Keyring, Verification, parse_keys, sign

KEYS = {"up-1": b"u" * 32, "fleet-1": b"f" * 32}
NOW = 1_767_614_400_000
BODY = b'{"queue_name":"events","actor_name":"ingest"}'


def verifier(required: bool = True, **keyring: object) -> Verification:
    ring = Keyring(**{"keys": KEYS, "signing_id": "up-1", **keyring})  # type: ignore[arg-type]
    return Verification(ring, required, max_age_ms=60_000, max_ahead_ms=5_000)


def test_a_signed_body_verifies_and_the_mac_is_the_documented_one() -> None:
    # Given a body signed with key up-1 now
    headers = sign(verifier().keyring, BODY, NOW)
    # Then it verifies, and the MAC is HMAC-SHA256 over "larder-v1\nid\nts\n" + body
    assert verifier().check(BODY, headers, "events", NOW + 1000) is None
    expected = hmac.new(
        b"u" * 32, b"larder-v1\nup-1\n" + str(NOW).encode() + b"\n" + BODY, hashlib.sha256
    ).hexdigest()
    assert headers == {
        "larder-key-id": "up-1",
        "larder-signed-at": NOW,
        "larder-signature": expected,
    }


def test_unsigned_messages_are_refused_only_when_signatures_are_required() -> None:
    assert verifier(required=True).check(BODY, None, "events", NOW) == (
        "unsigned",
        "unsigned message: signatures are required (see docs/security.md)",
    )
    assert verifier(required=False).check(BODY, {}, "events", NOW) is None


@pytest.mark.parametrize("required", [True, False])
def test_a_tampered_body_or_signing_time_or_a_forged_mac_is_refused(required: bool) -> None:
    # Given a correctly signed body (optional mode still checks what is signed)
    headers = sign(verifier().keyring, BODY, NOW)
    check = verifier(required).check
    # When the body, the signing time or the MAC changes
    tampered = check(BODY.replace(b"ingest", b"train_"), headers, "events", NOW)
    moved = check(BODY, {**headers, "larder-signed-at": NOW + 1}, "events", NOW)
    forged = check(BODY, {**headers, "larder-signature": "0" * 64}, "events", NOW)
    # Then each is refused as a bad signature
    for problem in (tampered, moved, forged):
        assert problem is not None and problem[0] == signing.BAD_SIGNATURE


def test_unknown_retired_and_out_of_scope_keys_are_refused_each_with_its_reason() -> None:
    stranger = Keyring({"other": b"o" * 32}, "other")
    unknown = verifier().check(BODY, sign(stranger, BODY, NOW), "events", NOW)
    assert unknown == ("unknown_key", "signed with unknown key id 'other'")
    # A retired key id is refused even though a body signed with it was once fine
    old = Keyring({"old-1": b"o" * 32}, "old-1")
    retired = verifier(retired=frozenset({"old-1"})).check(
        BODY, sign(old, BODY, NOW), "events", NOW
    )
    assert retired == ("retired_key", "signed with retired key id 'old-1'")
    # A key limited to the events workload cannot sign a recs job
    scoped = verifier(workloads={"up-1": frozenset({"events", "order_checks"})})
    headers = sign(scoped.keyring, BODY, NOW)
    assert scoped.check(BODY, headers, "events", NOW) is None
    assert scoped.check(BODY, headers, "recs", NOW) == (
        "key_not_allowed",
        "key id 'up-1' may not sign for the recs queue",
    )


def test_signatures_outside_the_time_window_are_replays() -> None:
    headers = sign(verifier().keyring, BODY, NOW)
    old = verifier().check(BODY, headers, "events", NOW + 61_000)
    ahead = verifier().check(BODY, headers, "events", NOW - 6_000)
    assert old is not None and old[0] == "outside_window" and "61 s ago" in old[1]
    assert ahead is not None and ahead[0] == "outside_window" and "6 s ahead" in ahead[1]
    assert verifier().check(BODY, headers, "events", NOW + 59_000) is None


def test_headers_from_other_clients_bytes_and_decimal_strings_verify() -> None:
    headers = sign(verifier().keyring, BODY, NOW)
    as_sent = {k: str(v).encode() for k, v in headers.items()}
    assert verifier().check(BODY, as_sent, "events", NOW) is None
    broken = {**headers, "larder-signed-at": "soon"}
    assert verifier().check(BODY, broken, "events", NOW) == (
        "bad_signature",
        "malformed signature headers: larder-signed-at must be an integer",
    )


def test_keys_parse_and_bad_keyrings_are_refused_without_showing_secrets() -> None:
    assert parse_keys(" a:0123456789abcdef , b:fedcba9876543210,") == {
        "a": b"0123456789abcdef",
        "b": b"fedcba9876543210",
    }
    with pytest.raises(ValueError) as short:
        Keyring({"a": b"tooshort-secret"}, "a")
    assert "tooshort" not in str(short.value)
    with pytest.raises(ValueError, match="id:secret"):
        parse_keys("no-secret-here")
    with pytest.raises(ValueError, match="retired"):
        Keyring({"a": b"a" * 16}, "a", retired=frozenset({"a"}))
    assert "0123" not in repr(Keyring(parse_keys("a:0123456789abcdef"), "a"))
