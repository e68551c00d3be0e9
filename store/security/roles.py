"""The Postgres roles each process connects as: one description per role (what it may do, on
which tables), applied by `larder db roles` and re-applied by `larder db upgrade`.

    <prefix>owner   owns the database's tables and migrates them (`larder db upgrade`,
                    `larder keys`); the only role that can change the schema
    <prefix>worker  the workers and the scheduler: the DML its actors need on every
                    capability's tables, temporary tables for bulk writes; no schema change,
                    no API keys
    <prefix>reader  the read API's lists: SELECT on the result tables and the few catalog
                    columns the read-time filters read; no order history, no homes
    <prefix>api     the HTTP API's own role: API keys (read), the support inbox (read, and
                    the agents' actions)

Every table must be in the description (a test checks), so a new table is a decision about
who may touch it, not an accident. Grants are re-applied whole (all revoked, then granted),
so the database always matches this description.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from store.security import queries
from store.server import database_name, plain_url
from store.tables import metadata

DML = "SELECT, INSERT, UPDATE, DELETE"
NOT_FOR_WORKERS = {"api_keys"}  # the HTTP API's credentials


@dataclass(frozen=True)
class Role:
    suffix: str
    description: str
    tables: Mapping[str, str] = field(default_factory=dict)  # table -> privileges
    database: str = "CONNECT"  # privileges on the database itself

    def name(self, prefix: str) -> str:
        return f"{prefix}{self.suffix}"


OWNER = Role("owner", "owns the tables, migrates them, manages API keys", database="CONNECT, TEMP")
WORKER = Role(
    "worker",
    "workers and scheduler: their actors' DML, temporary tables for bulk writes",
    {name: DML for name in sorted(metadata.tables) if name not in NOT_FOR_WORKERS},
    database="CONNECT, TEMP",
)
READER = Role(
    "reader",
    "the read API's lists: result tables, the catalog columns its filters read",
    {
        "recommendations": "SELECT",
        "fallback_recommendations": "SELECT",
        "users": "SELECT (user_id, city_id)",  # a user's city for the fallback; not the home
        "venues": "SELECT (venue_id, city_id, active, opening_hours)",
        "cities": "SELECT (city_id, timezone)",
        "items": "SELECT (item_id, venue_id, available)",
    },
)
API = Role(
    "api",
    "the HTTP API: API keys (read), the support inbox (read, agents' actions)",
    {
        "api_keys": "SELECT",
        "order_problems": "SELECT, UPDATE",
        "problem_history": "SELECT, INSERT",
        "order_states": "SELECT (order_id, state)",  # the console's order timeline
    },
)
ROLES = (OWNER, WORKER, READER, API)


def set_up(url: str, prefix: str, passwords: Mapping[str, str]) -> list[str]:
    """`larder db roles`, as an admin on the URL's database: the missing roles created, the
    database and its tables handed to the owner, each role's privileges applied. Returns the
    roles created."""
    with psycopg.connect(plain_url(url), autocommit=True) as connection:
        created = create(connection, prefix, passwords)
        hand_over(connection, prefix, database_name(url))
        grant(connection, prefix, database_name(url))
    return created


def regrant(url: str, prefix: str) -> bool:
    """After a migration (`larder db upgrade`, as the owner): re-apply the privileges if `larder
    db roles` made the roles, so new tables get exactly what the description says."""
    with psycopg.connect(plain_url(url), autocommit=True) as connection:
        if not exist(connection, prefix):
            return False
        grant(connection, prefix, database_name(url))
    return True


def create(
    connection: psycopg.Connection[Any], prefix: str, passwords: Mapping[str, str]
) -> list[str]:
    """Create the roles that do not exist yet (needs CREATEROLE); set the passwords given (by
    role suffix), encrypted here so no password travels in a statement. Returns the roles
    created."""
    created = []
    for role in ROLES:
        name = role.name(prefix)
        if connection.execute(queries.ROLE_EXISTS, {"role": name}).fetchone() is None:
            connection.execute(_sql(queries.CREATE_ROLE, role=name))
            created.append(name)
        if role.suffix in passwords:
            secret = connection.pgconn.encrypt_password(
                passwords[role.suffix].encode(), name.encode(), b"scram-sha-256"
            )
            statement = sql.SQL(queries.SET_ROLE_PASSWORD).format(
                role=sql.Identifier(name), password=sql.Literal(secret.decode())
            )
            connection.execute(statement)
    return created


def hand_over(connection: psycopg.Connection[Any], prefix: str, database: str) -> None:
    """Make the owner role own the database and every table in it (needs a superuser, or a
    member of both the current owner and the owner role)."""
    owner = OWNER.name(prefix)
    connection.execute(_sql(queries.OWN_DATABASE, database=database, role=owner))
    for (table,) in connection.execute(queries.PUBLIC_TABLES).fetchall():
        connection.execute(_sql(queries.OWN_TABLE, table=table, role=owner))


def grant(connection: psycopg.Connection[Any], prefix: str, database: str) -> None:
    """Apply the description: the database closed to PUBLIC, then each role's privileges on
    the database, its tables and their sequences, exactly (run as the owner or an admin)."""
    connection.execute(_sql(queries.CLOSE_DATABASE, database=database))
    present = {row[0] for row in connection.execute(queries.PUBLIC_TABLES)}
    for role in ROLES:
        name = role.name(prefix)
        privileges = sql.SQL(role.database)
        connection.execute(
            sql.SQL(queries.CONNECT_DATABASE).format(
                privileges=privileges, database=sql.Identifier(database), role=sql.Identifier(name)
            )
        )
        if role is OWNER:
            continue
        connection.execute(_sql(queries.REVOKE_TABLES, role=name))
        connection.execute(_sql(queries.REVOKE_SEQUENCES, role=name))
        tables = {t: p for t, p in role.tables.items() if t in present}
        for table, table_privileges in tables.items():
            connection.execute(
                sql.SQL(queries.GRANT_TABLE).format(
                    privileges=sql.SQL(table_privileges),
                    table=sql.Identifier(table),
                    role=sql.Identifier(name),
                )
            )
        inserting = [t for t, p in tables.items() if "INSERT" in p]
        for (sequence,) in connection.execute(queries.SEQUENCES_OF, {"tables": inserting}):
            connection.execute(_sql(queries.GRANT_SEQUENCE, sequence=sequence, role=name))


def exist(connection: psycopg.Connection[Any], prefix: str) -> bool:
    """Whether the roles were created (`larder db upgrade` then re-applies the grants)."""
    return all(
        connection.execute(queries.ROLE_EXISTS, {"role": r.name(prefix)}).fetchone() is not None
        for r in ROLES
    )


def drop(connection: psycopg.Connection[Any], prefix: str) -> None:
    """Drop the roles: what they own in this database goes to the current user, what they were
    granted goes with them (tests; a teardown)."""
    for role in ROLES:
        name = role.name(prefix)
        if connection.execute(queries.ROLE_EXISTS, {"role": name}).fetchone() is not None:
            connection.execute(_sql(queries.REASSIGN_OWNED, role=name))
            connection.execute(_sql(queries.DROP_OWNED, role=name))
            connection.execute(_sql(queries.DROP_ROLE, role=name))


def _sql(template: str, **identifiers: str) -> sql.Composed:
    return sql.SQL(template).format(**{k: sql.Identifier(v) for k, v in identifiers.items()})
