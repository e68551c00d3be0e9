"""Tables of intake: the catalog, users, order history, activity, idempotency records."""

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
    SmallInteger,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, REAL

from store.metadata import metadata, versioned

cities = Table(
    "cities",
    metadata,
    Column("city_id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    Column("lat", Double, nullable=False),
    Column("lon", Double, nullable=False),
    Column("timezone", Text, nullable=False),
    *versioned(),
)

brands = Table(
    "brands",
    metadata,
    Column("brand_id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    *versioned(),
)

food_categories = Table(
    "food_categories",
    metadata,
    Column("category_id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    Column("slug", Text, nullable=False),
    Column("parent_id", BigInteger),
    *versioned(),
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
    *versioned(),
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
    *versioned(),
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
    *versioned(),
)

users = Table(
    "users",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("city_id", BigInteger, nullable=False),
    Column("home_lat", Double, nullable=False),
    Column("home_lon", Double, nullable=False),
    Column("segment", Text),
    *versioned(),
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
    Column("propensity", REAL),  # the serving policy's, for offline evaluation
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
