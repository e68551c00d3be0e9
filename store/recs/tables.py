"""Tables of the recommendation lists: model versions, lists, fallbacks, change marks, runs."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, BYTEA, JSONB, REAL

from store.metadata import metadata

model_versions = Table(
    "model_versions",
    metadata,
    Column("version", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("trained_on", JSONB, nullable=False),
    Column("metrics", JSONB, nullable=False),
    Column("artefact", BYTEA, nullable=False),
    Column("active", Boolean, nullable=False, server_default="false"),
    Column("activated_at", DateTime(timezone=True)),
    # at most one active version per kind
    Index("uq_model_versions_active_kind", "kind", unique=True, postgresql_where=text("active")),
)

# One row per user and surface holds all of that surface's lists (one per context, end to end):
# list k (1-based) is ids[bounds[k] + 1 : bounds[k + 1]], for context contexts[k]. A refresh writes
# ~3 rows per user instead of ~18 (the per-row cost was most of a refresh's writes), and a read is
# still one primary-key lookup (store/queries.py, READ_RECOMMENDATIONS).
recommendations = Table(
    "recommendations",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("surface", Text, primary_key=True),
    Column("contexts", ARRAY(BigInteger), nullable=False),  # 0: none
    Column("bounds", ARRAY(Integer), nullable=False),  # cardinality(contexts) + 1 offsets
    Column("ids", ARRAY(BigInteger), nullable=False),
    Column("scores", ARRAY(REAL), nullable=False),
    Column("model_version", Text, nullable=False),
    Column("inputs_at", DateTime(timezone=True), nullable=False),  # newest input it saw
    Column("computed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

fallback_recommendations = Table(
    "fallback_recommendations",
    metadata,
    Column("city_id", BigInteger, primary_key=True, autoincrement=False),  # 0: every city
    Column("surface", Text, primary_key=True),
    Column("context", BigInteger, primary_key=True, autoincrement=False),
    Column("ids", ARRAY(BigInteger), nullable=False),
    Column("scores", ARRAY(REAL), nullable=False),
    Column("model_version", Text, nullable=False),
    Column("computed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Users whose lists must be recomputed: marked by intake when their inputs change (due now),
# and again, due later, by a refresh that failed for them or found no model (it never loses
# them). The sweep claims the marks that are due (any number of sweepers: SKIP LOCKED).
user_changes = Table(
    "user_changes",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# A batch refresh: its chunks are jobs on the `recs` queue. Progress is counted, not
# incremented, so a redelivered job never counts twice; a chunk whose message was dead-lettered
# (its id is in rejected_messages) counts as failed.
refresh_runs = Table(
    "refresh_runs",
    metadata,
    Column("run_id", BigInteger, primary_key=True, autoincrement=True),
    Column("scope", Text, nullable=False),
    Column("model_version", Text, nullable=False),
    Column("total_users", Integer, nullable=False),
    Column("total_chunks", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

refresh_run_chunks = Table(
    "refresh_run_chunks",
    metadata,
    Column("run_id", BigInteger, primary_key=True, autoincrement=False),
    Column("chunk", Integer, primary_key=True, autoincrement=False),
    Column("message_id", Text, nullable=False),
    Column("users", Integer, nullable=False),
    Column("done_at", DateTime(timezone=True)),
)
