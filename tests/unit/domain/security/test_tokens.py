"""API tokens (pure): shape, parsing, digests compared in constant time, secrets never shown."""

from __future__ import annotations

from domain.security import tokens


def test_a_new_token_parses_back_and_matches_its_digest_only() -> None:
    token = tokens.new_token()
    text = str(token)
    assert text.startswith(f"lk_{token.key_id}_") and len(text) == 59
    assert tokens.parse(f"  {text}\n") == token
    assert tokens.matches(token, tokens.digest(token.secret))
    assert not tokens.matches(token, tokens.digest(token.secret + "x"))
    assert token.secret not in repr(token)


def test_garbage_is_not_a_token() -> None:
    assert tokens.parse("") is None
    assert tokens.parse("Bearer lk_abc") is None
    assert tokens.parse("lk_" + "a" * 12 + "_" + "b" * 42) is None
