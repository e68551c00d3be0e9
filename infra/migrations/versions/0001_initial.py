"""initial schema: catalog, users, orders, activity, idempotency, rejections

Revision ID: 0001
Revises:
Create Date: 2026-11-22 04:03:01.445412
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activity_events",
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("surface", sa.Text(), nullable=False),
        sa.Column("venue_id", sa.BigInteger(), nullable=True),
        sa.Column("item_id", sa.BigInteger(), nullable=True),
        sa.Column("banner_id", sa.BigInteger(), nullable=True),
        sa.Column("brand_id", sa.BigInteger(), nullable=True),
        sa.Column("category_id", sa.BigInteger(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_activity_events")),
    )
    op.create_index(
        op.f("ix_activity_events_user_id_occurred_at"),
        "activity_events",
        ["user_id", "occurred_at"],
        unique=False,
    )
    op.create_table(
        "banners",
        sa.Column("banner_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("city_ids", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("category_ids", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("brand_ids", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("venue_ids", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("segments", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("banner_id", name=op.f("pk_banners")),
    )
    op.create_table(
        "brands",
        sa.Column("brand_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("brand_id", name=op.f("pk_brands")),
    )
    op.create_table(
        "cities",
        sa.Column("city_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("timezone", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("city_id", name=op.f("pk_cities")),
    )
    op.create_table(
        "food_categories",
        sa.Column("category_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("category_id", name=op.f("pk_food_categories")),
    )
    op.create_table(
        "items",
        sa.Column("item_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("venue_id", sa.BigInteger(), nullable=False),
        sa.Column("category_id", sa.BigInteger(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_items")),
    )
    op.create_index(op.f("ix_items_venue_id"), "items", ["venue_id"], unique=False)
    op.create_table(
        "orders",
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("venue_id", sa.BigInteger(), nullable=False),
        sa.Column("city_id", sa.BigInteger(), nullable=True),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column(
            "loaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_orders")),
    )
    op.create_index(
        op.f("ix_orders_user_id_placed_at"), "orders", ["user_id", "placed_at"], unique=False
    )
    op.create_index(
        op.f("ix_orders_venue_id_placed_at"), "orders", ["venue_id", "placed_at"], unique=False
    )
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_processed_events")),
    )
    op.create_index(
        op.f("ix_processed_events_processed_at"), "processed_events", ["processed_at"], unique=False
    )
    op.create_table(
        "rejected_messages",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("queue_name", sa.Text(), nullable=False),
        sa.Column("actor_name", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw_body", sa.Text(), nullable=False),
        sa.Column(
            "rejected_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rejected_messages")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_rejected_messages_fingerprint")),
    )
    op.create_index(
        op.f("ix_rejected_messages_rejected_at"), "rejected_messages", ["rejected_at"], unique=False
    )
    op.create_table(
        "users",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("city_id", sa.BigInteger(), nullable=False),
        sa.Column("home_lat", sa.Double(), nullable=False),
        sa.Column("home_lon", sa.Double(), nullable=False),
        sa.Column("segment", sa.Text(), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_users")),
    )
    op.create_index(op.f("ix_users_city_id"), "users", ["city_id"], unique=False)
    op.create_table(
        "venues",
        sa.Column("venue_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("city_id", sa.BigInteger(), nullable=False),
        sa.Column("brand_id", sa.BigInteger(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("delivery_radius_m", sa.Integer(), nullable=False),
        sa.Column("cuisines", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("category_ids", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("price_level", sa.SmallInteger(), nullable=False),
        sa.Column("rating", sa.Double(), nullable=True),
        sa.Column("opening_hours", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("venue_id", name=op.f("pk_venues")),
    )
    op.create_index(op.f("ix_venues_city_id"), "venues", ["city_id"], unique=False)
    op.create_table(
        "order_lines",
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("line_no", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.order_id"],
            name=op.f("fk_order_lines_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_id", "line_no", name=op.f("pk_order_lines")),
    )
    op.create_index(op.f("ix_order_lines_item_id"), "order_lines", ["item_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_order_lines_item_id"), table_name="order_lines")
    op.drop_table("order_lines")
    op.drop_index(op.f("ix_venues_city_id"), table_name="venues")
    op.drop_table("venues")
    op.drop_index(op.f("ix_users_city_id"), table_name="users")
    op.drop_table("users")
    op.drop_index(op.f("ix_rejected_messages_rejected_at"), table_name="rejected_messages")
    op.drop_table("rejected_messages")
    op.drop_index(op.f("ix_processed_events_processed_at"), table_name="processed_events")
    op.drop_table("processed_events")
    op.drop_index(op.f("ix_orders_venue_id_placed_at"), table_name="orders")
    op.drop_index(op.f("ix_orders_user_id_placed_at"), table_name="orders")
    op.drop_table("orders")
    op.drop_index(op.f("ix_items_venue_id"), table_name="items")
    op.drop_table("items")
    op.drop_table("food_categories")
    op.drop_table("cities")
    op.drop_table("brands")
    op.drop_table("banners")
    op.drop_index(op.f("ix_activity_events_user_id_occurred_at"), table_name="activity_events")
    op.drop_table("activity_events")
