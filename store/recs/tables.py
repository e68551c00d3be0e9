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

# Banner impressions and clicks per (banner, city, lifecycle segment, slot): what the banners
# surface's hierarchical Thompson sampler learns from. Intake adds to it in the transaction that
# records the activity event (the event's primary key dedups: a duplicate counts once; a click
# whose impression never came is still counted). city_id 0: a user not known yet.
banner_stats = Table(
    "banner_stats",
    metadata,
    Column("banner_id", BigInteger, primary_key=True, autoincrement=False),
    Column("city_id", BigInteger, primary_key=True, autoincrement=False),
    Column("segment", Text, primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("impressions", BigInteger, nullable=False),
    Column("clicks", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Business overrides, applied at read time (`larder recs overrides`): `pin` a banner to a slot in
# a city for a period, `exclude` a banner or brand for one user, `pause` a banner everywhere.
recs_overrides = Table(
    "recs_overrides",
    metadata,
    Column("override_id", BigInteger, primary_key=True, autoincrement=True),
    Column("action", Text, nullable=False),  # pin | exclude | pause
    Column("target", Text, nullable=False),  # banner | brand
    Column("target_id", BigInteger, nullable=False),
    Column("city_id", BigInteger),  # pin
    Column("user_id", BigInteger),  # exclude
    Column("slot", Integer),  # pin: 1-based
    Column("starts_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("ends_at", DateTime(timezone=True)),  # NULL: until removed
    Column("reason", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_recs_overrides_user", "user_id", postgresql_where=text("user_id IS NOT NULL")),
    Index("ix_recs_overrides_city", "city_id", postgresql_where=text("action = 'pin'")),
    Index("ix_recs_overrides_paused", "target_id", postgresql_where=text("action = 'pause'")),
)
