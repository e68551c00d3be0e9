"""Message signatures: HMAC-SHA256 over the body exactly as published, with a key id.

A signed AMQP message carries three headers (`HEADERS`): the key id, the signing time in
milliseconds since the epoch, and the hex MAC of

    b"larder-v1\\n" + key_id + b"\\n" + signed_at + b"\\n" + body

where `body` is the message body byte for byte (the canonical body is the bytes published,
never a re-serialisation, so any language signs it the same way). The key id and the time are
signed too: neither can be changed without breaking the MAC.

Several keys can be valid at once (rotation); a retired key id is refused with its own reason;
a key may be limited to some workloads (an upstream producer's key cannot sign a `recs` job).
A verifier checks the signing time against a window, so a captured message cannot be replayed
days later; whoever re-publishes a message (Dramatiq's retries, a dead-letter replay) signs it
again with its own key and the current time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

VERSION = b"larder-v1"
KEY_ID = "larder-key-id"
SIGNED_AT = "larder-signed-at"
SIGNATURE = "larder-signature"
HEADERS = (KEY_ID, SIGNED_AT, SIGNATURE)
MIN_KEY_BYTES = 16
MAX_KEY_ID = 64

# The kinds of rejection (metric label `kind`), each with its own reason text.
UNSIGNED = "unsigned"
BAD_SIGNATURE = "bad_signature"
UNKNOWN_KEY = "unknown_key"
RETIRED_KEY = "retired_key"
KEY_NOT_ALLOWED = "key_not_allowed"
OUTSIDE_WINDOW = "outside_window"

Problem = tuple[str, str]  # (kind, reason)


@dataclass(frozen=True)
class Keyring:
    """The keys a process knows. `signing_id` is the one it signs with (None: it does not
    sign); `retired` ids are refused; `workloads` limits a key id to some workloads (a key
    not listed may sign for any)."""

    keys: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    signing_id: str | None = None
    retired: frozenset[str] = frozenset()
    workloads: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key_id, key in self.keys.items():
            if not key_id or len(key_id) > MAX_KEY_ID or not key_id.isprintable() or ":" in key_id:
                raise ValueError(f"a key id is 1 to {MAX_KEY_ID} printable characters, no ':'")
            if len(key) < MIN_KEY_BYTES:
                raise ValueError(f"signing key {key_id!r} is shorter than {MIN_KEY_BYTES} bytes")
        if self.signing_id is not None and self.signing_id not in self.keys:
            raise ValueError(f"the signing key id {self.signing_id!r} has no key")
        if self.signing_id in self.retired:
            raise ValueError(f"the signing key id {self.signing_id!r} is retired")

    @property
    def signs(self) -> bool:
        return self.signing_id is not None


def mac(key: bytes, key_id: str, signed_at_ms: int, body: bytes) -> str:
    signed = b"\n".join((VERSION, key_id.encode(), str(signed_at_ms).encode(), body))
    return hmac.new(key, signed, hashlib.sha256).hexdigest()


def sign(keyring: Keyring, body: bytes, now_ms: int) -> dict[str, str | int]:
    """The headers that sign `body` with the keyring's signing key at `now_ms`."""
    if keyring.signing_id is None:
        raise ValueError("this keyring has no signing key")
    key = keyring.keys[keyring.signing_id]
    return {
        KEY_ID: keyring.signing_id,
        SIGNED_AT: now_ms,
        SIGNATURE: mac(key, keyring.signing_id, now_ms, body),
    }


@dataclass(frozen=True)
class Verification:
    """How a consumer checks signatures: `required` refuses unsigned messages (a signed one is
    always checked); the signing time must lie within `max_age_ms` before now and
    `max_ahead_ms` after it (clock skew)."""

    keyring: Keyring
    required: bool
    max_age_ms: int = 24 * 3600 * 1000
    max_ahead_ms: int = 5 * 60 * 1000

    def check(
        self,
        body: bytes,
        headers: Mapping[str, object] | None,
        workload: str,
        now_ms: int | None,
    ) -> Problem | None:
        """Why the delivery must be refused, or None when it may be parsed. With `now_ms`
        None, the time window is not checked: is this what a known key signed? (A dead-letter
        replay signs again only what passes that.)"""
        headers = headers or {}
        if not any(name in headers for name in HEADERS):
            if self.required:
                return UNSIGNED, "unsigned message: signatures are required (see docs/security.md)"
            return None
        key_id, signed_at, signature = (headers.get(name) for name in HEADERS)
        if isinstance(key_id, bytes):
            key_id = key_id.decode("utf-8", "replace")
        if isinstance(signature, bytes):
            signature = signature.decode("ascii", "replace")
        if not (isinstance(key_id, str) and isinstance(signature, str)):
            return BAD_SIGNATURE, f"malformed signature headers: {', '.join(HEADERS)} expected"
        at = _integer(signed_at)
        if at is None:
            return BAD_SIGNATURE, f"malformed signature headers: {SIGNED_AT} must be an integer"
        return self._check_key(key_id, workload) or self._check_mac(
            body, key_id, at, signature, now_ms
        )

    def _check_key(self, key_id: str, workload: str) -> Problem | None:
        shown = key_id[:MAX_KEY_ID]
        if key_id in self.keyring.retired:
            return RETIRED_KEY, f"signed with retired key id {shown!r}"
        if key_id not in self.keyring.keys:
            return UNKNOWN_KEY, f"signed with unknown key id {shown!r}"
        allowed = self.keyring.workloads.get(key_id)
        if allowed is not None and workload not in allowed:
            return KEY_NOT_ALLOWED, f"key id {shown!r} may not sign for the {workload} queue"
        return None

    def _check_mac(
        self, body: bytes, key_id: str, signed_at: int, signature: str, now_ms: int | None
    ) -> Problem | None:
        expected = mac(self.keyring.keys[key_id], key_id, signed_at, body)
        if not hmac.compare_digest(expected, signature.lower()):
            return BAD_SIGNATURE, (
                f"signature does not match (key id {key_id!r}): forged, or the body or its"
                " signing time changed after signing"
            )
        if now_ms is None:
            return None
        age_ms = now_ms - signed_at
        if age_ms > self.max_age_ms or -age_ms > self.max_ahead_ms:
            when = f"{age_ms / 1000:.0f} s ago" if age_ms > 0 else f"{-age_ms / 1000:.0f} s ahead"
            return OUTSIDE_WINDOW, (
                f"signed {when}, outside the window ({self.max_age_ms // 1000} s back,"
                f" {self.max_ahead_ms // 1000} s ahead): a replay, or a backlog older than the"
                " window (replay it from the dead letters to sign it again)"
            )
        return None


def _integer(value: object) -> int | None:
    """An AMQP header integer; a decimal string is accepted too (some clients send those)."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str) and value.isdigit() and len(value) <= 19:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def parse_keys(text: str) -> dict[str, bytes]:
    """`id:secret[,id:secret...]` (whitespace and empty entries ignored) -> {id: key bytes}."""
    keys: dict[str, bytes] = {}
    for entry in text.replace("\n", ",").split(","):
        entry = entry.strip()
        if not entry:
            continue
        key_id, sep, secret = entry.partition(":")
        if not sep or not key_id.strip() or not secret.strip():
            raise ValueError("signing keys are `id:secret` pairs separated by commas")
        if key_id.strip() in keys:
            raise ValueError(f"signing key id {key_id.strip()!r} is listed twice")
        keys[key_id.strip()] = secret.strip().encode()
    return keys
