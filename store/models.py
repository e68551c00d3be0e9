"""Table definitions (SQLAlchemy Core). Alembic migrations must match these; CI checks it.

There are deliberately no foreign keys between independently published entities (an order can
arrive before its venue's catalog event); only order lines reference their order.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, BYTEA, JSON, JSONB, REAL

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _versioned() -> list[Column[object]]:
    return [
        Column("version", BigInteger, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


cities = Table(
    "cities",
    metadata,
    Column("city_id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    Column("lat", Double, nullable=False),
    Column("lon", Double, nullable=False),
    Column("timezone", Text, nullable=False),
    *_versioned(),
)

brands = Table(
    "brands",
    metadata,
    Column("brand_id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    *_versioned(),
)

food_categories = Table(
    "food_categories",
    metadata,
    Column("category_id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    Column("slug", Text, nullable=False),
    Column("parent_id", BigInteger),
    *_versioned(),
)

venues = Table(
    "venues",
    metadata,
    Column("venue_id", BigInteger, primary_key=True, autoincrement=False),
    Column("city_id", BigInteger, nullable=False),
    Column("brand_id", BigInteger),
    Column("name", Text, nullable=False),
    Column("lat", Double, nullable=False),
    Column("lon", Double, nullable=False),
    Column("delivery_radius_m", Integer, nullable=False),
    Column("cuisines", ARRAY(Text), nullable=False),
    Column("category_ids", ARRAY(BigInteger), nullable=False),
    Column("price_level", SmallInteger, nullable=False),
    Column("rating", Double),
    Column("opening_hours", JSONB, nullable=False),
    Column("active", Boolean, nullable=False),
    *_versioned(),
    Index(None, "city_id"),
)

items = Table(
    "items",
    metadata,
    Column("item_id", BigInteger, primary_key=True, autoincrement=False),
    Column("venue_id", BigInteger, nullable=False),
    Column("category_id", BigInteger),
    Column("name", Text, nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("available", Boolean, nullable=False),
    *_versioned(),
    Index(None, "venue_id"),
)

banners = Table(
    "banners",
    metadata,
    Column("banner_id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    Column("city_ids", ARRAY(BigInteger), nullable=False),
    Column("category_ids", ARRAY(BigInteger), nullable=False),
    Column("brand_ids", ARRAY(BigInteger), nullable=False),
    Column("venue_ids", ARRAY(BigInteger), nullable=False),
    Column("segments", ARRAY(Text), nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("active", Boolean, nullable=False),
    *_versioned(),
)

users = Table(
    "users",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("city_id", BigInteger, nullable=False),
    Column("home_lat", Double, nullable=False),
    Column("home_lon", Double, nullable=False),
    Column("segment", Text),
    *_versioned(),
    Index(None, "city_id"),
)

orders = Table(
    "orders",
    metadata,
    Column("order_id", Text, primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("venue_id", BigInteger, nullable=False),
    Column("city_id", BigInteger),
    Column("placed_at", DateTime(timezone=True), nullable=False),
    Column("total", BigInteger),
    Column("source", Text, nullable=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index(None, "user_id", "placed_at"),
    Index(None, "venue_id", "placed_at"),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column(
        "order_id",
        Text,
        ForeignKey("orders.order_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("line_no", Integer, primary_key=True, autoincrement=False),
    Column("item_id", BigInteger, nullable=False),
    Column("quantity", Integer, nullable=False),
    Index(None, "item_id"),
)

INTENT = "kind <> 'impression' AND venue_id IS NOT NULL"
"""Activity that moves venue affinity: a click or an add-to-cart says more than being shown."""

activity_events = Table(
    "activity_events",
    metadata,
    Column("event_id", Text, primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("kind", Text, nullable=False),
    Column("surface", Text, nullable=False),
    Column("venue_id", BigInteger),
    Column("item_id", BigInteger),
    Column("banner_id", BigInteger),
    Column("brand_id", BigInteger),
    Column("category_id", BigInteger),
    Column("position", Integer),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Index(None, "user_id", "occurred_at"),
    # What the rankers read per user (intent, with a venue), index-only: activity is most of the
    # intake and a user's rows are scattered across the table.
    Index(
        "ix_activity_events_intent",
        "user_id",
        "occurred_at",
        postgresql_include=["venue_id"],
        postgresql_where=text(INTENT),
    ),
)

processed_events = Table(
    "processed_events",
    metadata,
    Column("event_id", Text, primary_key=True),
    Column("event_type", Text, nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index(None, "processed_at"),
)

rejected_messages = Table(
    "rejected_messages",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("fingerprint", Text, nullable=False, unique=True),
    Column("message_id", Text),
    Column("queue_name", Text, nullable=False),
    Column("actor_name", Text),
    Column("reason", Text, nullable=False),
    Column("raw_body", Text, nullable=False),
    Column("rejected_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index(None, "rejected_at"),
)

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

user_changes = Table(
    "user_changes",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
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

Index("ix_rejected_messages_message_id", rejected_messages.c.message_id)

# --- order-problem checks (actors/orders.py) ------------------------------------------------

# The projection of each order's lifecycle events (domain.orders.projection, `state` as
# dump_state JSON), and its timer: `next_due_at` is when the rules must look again with no new
# event; the sweep claims due rows through the partial index, so its cost follows due timers,
# not live orders. `state` is NULL only inside the transaction that creates the row.
order_states = Table(
    "order_states",
    metadata,
    Column("order_id", Text, primary_key=True),
    Column("state", JSON),  # json, not jsonb: never queried inside; 3x cheaper to write/read
    Column("version", BigInteger, nullable=False, server_default="0"),  # +1 per write
    Column("last_sequence", BigInteger, nullable=False, server_default="-1"),
    Column("venue_id", BigInteger),
    Column("city_id", BigInteger),
    Column("known", Boolean, nullable=False, server_default="false"),  # order.created arrived
    Column("terminal", Boolean, nullable=False, server_default="false"),
    Column("next_due_at", DateTime(timezone=True)),
    # The latest instant the order was judged at: judgements of one order never go back in
    # time (a batch taken late judges at its own time, a sweep at the watermark or now).
    Column("judged_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index(None, "next_due_at", postgresql_where=text("next_due_at IS NOT NULL")),
)

# Problem records. An episode lasts from the rule firing until its condition clears (or the
# order finishes): `ended_at` is NULL while it lasts, and at most one episode per identity --
# (order, rule) or, for venue rules, (venue, rule) -- lasts at a time (partial unique indexes).
# An agent resolving a record closes it for the inbox (`resolved_at`); the episode goes on
# until the condition clears, so a problem an agent dealt with is not opened again at once.
order_problems = Table(
    "order_problems",
    metadata,
    Column("problem_id", BigInteger, primary_key=True, autoincrement=True),
    Column("rule", Text, nullable=False),
    Column("order_id", Text),  # NULL for venue-level rules
    Column("venue_id", BigInteger),
    Column("city_id", BigInteger),
    Column("severity", Text, nullable=False),
    Column("status", Text, nullable=False),  # open | resolved
    Column("muted", Boolean, nullable=False, server_default="false"),
    Column("since", DateTime(timezone=True), nullable=False),  # the condition became true
    Column("opened_at", DateTime(timezone=True), nullable=False),  # detected
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("resolved_at", DateTime(timezone=True)),
    Column("resolution", Text),  # condition_cleared | order_finished | agent
    Column("resolved_by", Text),
    Column("acknowledged_at", DateTime(timezone=True)),
    Column("acknowledged_by", Text),
    Column("details", JSONB, nullable=False),
    Index(
        "uq_order_problems_live_order",
        "order_id",
        "rule",
        unique=True,
        postgresql_where=text("ended_at IS NULL AND order_id IS NOT NULL"),
    ),
    Index(
        "uq_order_problems_live_venue",
        "venue_id",
        "rule",
        unique=True,
        postgresql_where=text("ended_at IS NULL AND order_id IS NULL"),
    ),
    Index("ix_order_problems_live_venue_id", "venue_id", postgresql_where=text("ended_at IS NULL")),
    Index(None, "status", "opened_at"),
)

# Every change of a problem record: opened, severity, muted, unmuted, acknowledged, resolved,
# ended (auto-resolution or the end of an episode an agent had resolved).
problem_history = Table(
    "problem_history",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column(
        "problem_id",
        BigInteger,
        ForeignKey("order_problems.problem_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("change", Text, nullable=False),
    Column("actor", Text, nullable=False),  # an agent's name, or "larder"
    Column("note", Text),
    Column("details", JSONB),
    Index(None, "problem_id", "id"),
)

# The venue's decision on each order (domain.orders.rules.venue_outcome): venue_struggling's input.
venue_outcomes = Table(
    "venue_outcomes",
    metadata,
    Column("order_id", Text, primary_key=True),
    Column("venue_id", BigInteger, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("failed", Boolean, nullable=False),
    Index(None, "venue_id", "at"),
)

# One row per venue seen: the lock that serialises its venue-level checks, and their timer.
venue_checks = Table(
    "venue_checks",
    metadata,
    Column("venue_id", BigInteger, primary_key=True, autoincrement=False),
    Column("city_id", BigInteger),
    Column("next_due_at", DateTime(timezone=True)),
    Column("checked_at", DateTime(timezone=True)),
    Index(None, "next_due_at", postgresql_where=text("next_due_at IS NOT NULL")),
)

# Venues whose venue-level checks must run again (an outcome changed, an order's
# venue_not_accepting problem opened or ended). Append-only, so order transactions never wait on
# each other for a venue; the venue sweep claims entries with SKIP LOCKED.
venue_changes = Table(
    "venue_changes",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("venue_id", BigInteger, nullable=False),
    Column("city_id", BigInteger),
)

# Per worker process, its watermark (the oldest event of the lifecycle messages it holds, else
# the newest it applied; actors/inflight.py) and when it wrote it, on the checks' clock. The
# oldest watermark of the busy processes is the fleet's low-water mark: what the sweeps and
# batches judge at while the workers are busy, instead of now (store/order_checks.py).
checks_watermarks = Table(
    "checks_watermarks",
    metadata,
    Column("worker", Text, primary_key=True),  # host:pid
    Column("low_water_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
