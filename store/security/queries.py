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

# Postgres roles (`store.security.roles`): identifiers are composed with psycopg.sql; the
# privileges come from the roles' description, never from input.
ROLE_EXISTS = "SELECT 1 FROM pg_roles WHERE rolname = %(role)s"
CREATE_ROLE = "CREATE ROLE {role} LOGIN"
SET_ROLE_PASSWORD = "ALTER ROLE {role} PASSWORD {password}"
REASSIGN_OWNED = "REASSIGN OWNED BY {role} TO CURRENT_USER"
DROP_OWNED = "DROP OWNED BY {role}"
DROP_ROLE = "DROP ROLE IF EXISTS {role}"
OWN_DATABASE = "ALTER DATABASE {database} OWNER TO {role}"
OWN_TABLE = "ALTER TABLE {table} OWNER TO {role}"
CLOSE_DATABASE = "REVOKE ALL ON DATABASE {database} FROM PUBLIC"
CONNECT_DATABASE = "GRANT {privileges} ON DATABASE {database} TO {role}"
REVOKE_TABLES = "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}"
REVOKE_SEQUENCES = "REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}"
GRANT_TABLE = "GRANT {privileges} ON TABLE {table} TO {role}"
GRANT_SEQUENCE = "GRANT USAGE ON SEQUENCE {sequence} TO {role}"
PUBLIC_TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
# The sequences behind the serial columns of the given tables.
SEQUENCES_OF = """
    SELECT s.relname FROM pg_class s
    JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i')
    JOIN pg_class t ON t.oid = d.refobjid
    WHERE s.relkind = 'S' AND t.relname = ANY(%(tables)s)
      AND t.relnamespace = 'public'::regnamespace
    ORDER BY s.relname
"""
