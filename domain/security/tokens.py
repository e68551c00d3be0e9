"""API tokens: `lk_<key id>_<secret>`. The key id is public (it names the key in listings and
logs); the secret is 32 random bytes, shown once when the key is created and stored only as
its SHA-256 digest. A fast hash is enough for a secret this long (nobody can guess 256 random
bits, whatever the hash costs; passwords, which people choose, need a slow one)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "lk"
_TOKEN = re.compile(r"^lk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class Token:
    key_id: str
    secret: str = ""

    def __repr__(self) -> str:  # the secret never shows
        return f"Token(key_id={self.key_id!r})"

    def __str__(self) -> str:
        return f"{PREFIX}_{self.key_id}_{self.secret}"


def new_token() -> Token:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    key_id = "".join(secrets.choice(alphabet) for _ in range(12))
    return Token(key_id, secrets.token_urlsafe(32))


def parse(text: str) -> Token | None:
    """The token in `text`, or None when it is not shaped like one."""
    found = _TOKEN.match(text.strip())
    return Token(found.group(1), found.group(2)) if found else None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(token: Token, stored_digest: str) -> bool:
    """Constant-time comparison of the token's digest with the stored one."""
    return hmac.compare_digest(digest(token.secret), stored_digest)
