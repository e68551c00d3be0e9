"""API keys: created with a digest of their secret, listed, revoked."""

from __future__ import annotations

CREATE_API_KEY = """
    INSERT INTO api_keys (key_id, principal, digest, scopes)
    VALUES (%(key_id)s, %(principal)s, %(digest)s, %(scopes)s)
"""

API_KEYS = """
    SELECT key_id, principal, scopes, created_at, revoked_at, digest FROM api_keys
    WHERE %(all)s OR revoked_at IS NULL
    ORDER BY principal, created_at, key_id
"""

REVOKE_API_KEY = """
    UPDATE api_keys SET revoked_at = now()
    WHERE key_id = %(key_id)s AND revoked_at IS NULL
    RETURNING key_id
"""
