"""Hot SQL, named and kept together. Rows arrive as one JSON array per statement
(`jsonb_to_recordset`), so a batch of any size is one round trip per event type.

Idempotency: intake statements first record the event ids in `processed_events` (in the same
transaction); only ids that were new reach the target table. Activity events, keyed by their
own event id, are deduplicated by their table's primary key instead. Catalog upserts
are last-writer-wins by `version`: an older version never overwrites a newer one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VersionedTable:
    """A catalog table whose rows are replaced by newer versions of the same entity."""

    table: str
    key: str
    columns: tuple[tuple[str, str], ...]  # (name, Postgres type) besides key and version

    def record(self) -> str:
        cols = [("event_id", "text"), (self.key, "bigint"), ("version", "bigint"), *self.columns]
        return ", ".join(f"{name} {kind}" for name, kind in cols)

    def names(self) -> list[str]:
        return [self.key, "version", *(name for name, _ in self.columns)]


def _fresh_events(record: str) -> str:
    return f"""
    WITH incoming AS (
        SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS x({record})
    ), fresh AS (
        INSERT INTO processed_events (event_id, event_type)
        SELECT event_id, %(event_type)s FROM incoming
        ON CONFLICT (event_id) DO NOTHING
        RETURNING event_id
    )"""


def versioned_upsert(spec: VersionedTable) -> str:
    names = spec.names()
    cols = ", ".join(names)
    assignments = ", ".join(f"{n} = EXCLUDED.{n}" for n in names if n != spec.key)
    return (
        _fresh_events(spec.record())
        + f""", newest AS (
        SELECT DISTINCT ON ({spec.key}) {cols}
        FROM incoming JOIN fresh USING (event_id)
        ORDER BY {spec.key}, version DESC
    )
    INSERT INTO {spec.table} AS t ({cols}, updated_at)
    SELECT {cols}, now() FROM newest
    ON CONFLICT ({spec.key}) DO UPDATE SET {assignments}, updated_at = now()
    WHERE t.version < EXCLUDED.version
    """
    )


CATALOG: dict[str, VersionedTable] = {
    "city.upserted": VersionedTable(
        "cities",
        "city_id",
        (("name", "text"), ("lat", "float8"), ("lon", "float8"), ("timezone", "text")),
    ),
    "brand.upserted": VersionedTable("brands", "brand_id", (("name", "text"),)),
    "category.upserted": VersionedTable(
        "food_categories",
        "category_id",
        (("name", "text"), ("slug", "text"), ("parent_id", "bigint")),
    ),
    "venue.upserted": VersionedTable(
        "venues",
        "venue_id",
        (
            ("city_id", "bigint"),
            ("brand_id", "bigint"),
            ("name", "text"),
            ("lat", "float8"),
            ("lon", "float8"),
            ("delivery_radius_m", "int"),
            ("cuisines", "text[]"),
            ("category_ids", "bigint[]"),
            ("price_level", "smallint"),
            ("rating", "float8"),
            ("opening_hours", "jsonb"),
            ("active", "boolean"),
        ),
    ),
    "item.upserted": VersionedTable(
        "items",
        "item_id",
        (
            ("venue_id", "bigint"),
            ("category_id", "bigint"),
            ("name", "text"),
            ("price", "bigint"),
            ("available", "boolean"),
        ),
    ),
    "banner.upserted": VersionedTable(
        "banners",
        "banner_id",
        (
            ("name", "text"),
            ("city_ids", "bigint[]"),
            ("category_ids", "bigint[]"),
            ("brand_ids", "bigint[]"),
            ("venue_ids", "bigint[]"),
            ("segments", "text[]"),
            ("starts_at", "timestamptz"),
            ("ends_at", "timestamptz"),
            ("active", "boolean"),
        ),
    ),
    "user.upserted": VersionedTable(
        "users",
        "user_id",
        (
            ("city_id", "bigint"),
            ("home_lat", "float8"),
            ("home_lon", "float8"),
            ("segment", "text"),
        ),
    ),
}

INSERT_ORDERS = (
    _fresh_events(
        "event_id text, order_id text, user_id bigint, venue_id bigint, city_id bigint,"
        " placed_at timestamptz, total bigint, lines jsonb"
    )
    + """, chosen AS (
        SELECT DISTINCT ON (order_id) incoming.*
        FROM incoming JOIN fresh USING (event_id)
        ORDER BY order_id, event_id
    ), new_orders AS (
        INSERT INTO orders (order_id, user_id, venue_id, city_id, placed_at, total, source)
        SELECT order_id, user_id, venue_id, city_id, placed_at, total, 'event' FROM chosen
        ON CONFLICT (order_id) DO NOTHING
        RETURNING order_id, user_id
    ), changed AS (
        -- the user's lists must follow this order. An append-only log, no unique key: marking
        -- never waits on another transaction; the sweep coalesces a burst into one refresh.
        INSERT INTO user_changes (user_id) SELECT DISTINCT user_id FROM new_orders
    )
    INSERT INTO order_lines (order_id, line_no, item_id, quantity)
    SELECT c.order_id, l.line_no, l.item_id, l.quantity
    FROM chosen c
    JOIN new_orders USING (order_id)
    CROSS JOIN LATERAL jsonb_to_recordset(c.lines) AS l(line_no int, item_id bigint, quantity int)
    ON CONFLICT DO NOTHING
    """
)

# Activity events are keyed by their own event id, so the insert itself is the idempotency
# record: no `processed_events` row (they are most of the traffic; this halves their writes).
INSERT_ACTIVITY = """
    INSERT INTO activity_events (event_id, user_id, kind, surface, venue_id, item_id, banner_id,
                                 brand_id, category_id, position, occurred_at)
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS x(
        event_id text, user_id bigint, kind text, surface text, venue_id bigint, item_id bigint,
        banner_id bigint, brand_id bigint, category_id bigint, position int,
        occurred_at timestamptz)
    ON CONFLICT (event_id) DO NOTHING
"""

INTAKE: dict[str, str] = {
    **{event_type: versioned_upsert(spec) for event_type, spec in CATALOG.items()},
    "order.completed": INSERT_ORDERS,
    "activity": INSERT_ACTIVITY,
}

RECORD_REJECTION = """
    INSERT INTO rejected_messages
        (fingerprint, message_id, queue_name, actor_name, reason, raw_body)
    VALUES (%(fingerprint)s, %(message_id)s, %(queue_name)s, %(actor_name)s, %(reason)s,
            %(raw_body)s)
    ON CONFLICT (fingerprint) DO NOTHING
"""

PRUNE_PROCESSED_EVENTS = """
    DELETE FROM processed_events WHERE event_id IN (
        SELECT event_id FROM processed_events
        WHERE processed_at < now() - make_interval(days => %(days)s)
        LIMIT %(chunk)s
    )
"""

TRAINING_BASKETS = """
    SELECT o.order_id, o.user_id, o.venue_id, o.placed_at,
           array_agg(DISTINCT l.item_id ORDER BY l.item_id) AS items
    FROM orders o JOIN order_lines l USING (order_id)
    GROUP BY o.order_id
"""

INSERT_MODEL_VERSION = """
    INSERT INTO model_versions (version, kind, trained_on, metrics, artefact)
    VALUES (%(version)s, %(kind)s, %(trained_on)s, %(metrics)s, %(artefact)s)
"""

LIST_MODEL_VERSIONS = """
    SELECT version, kind, created_at, active, activated_at, trained_on, metrics
    FROM model_versions WHERE kind = %(kind)s ORDER BY created_at DESC, version DESC
"""

# Activation is two statements in one transaction: the partial unique index (one active
# version per kind) is checked row by row, so the old one must be cleared first.
DEACTIVATE_MODELS = "UPDATE model_versions SET active = false WHERE kind = %(kind)s AND active"

ACTIVATE_MODEL = """
    UPDATE model_versions SET active = true, activated_at = now()
    WHERE kind = %(kind)s AND version = %(version)s
    RETURNING version
"""

ACTIVE_MODEL = """
    SELECT version, artefact FROM model_versions WHERE kind = %(kind)s AND active
"""

USER_BASKETS = """
    SELECT o.order_id, o.user_id, o.venue_id, o.placed_at,
           array_agg(DISTINCT l.item_id ORDER BY l.item_id) AS items
    FROM orders o JOIN order_lines l USING (order_id)
    WHERE o.user_id = ANY(%(user_ids)s)
    GROUP BY o.order_id
"""

# Claimed by any number of sweepers at once; the caller publishes the refresh jobs before it
# commits, so a failed publish leaves the users dirty (at least once, never lost).
CLAIM_USER_CHANGES = """
    DELETE FROM user_changes WHERE id IN (
        SELECT id FROM user_changes ORDER BY id LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    )
    RETURNING user_id
"""

STALE_LIST_USERS = """
    SELECT DISTINCT user_id FROM recommendations
    WHERE computed_at < now() - %(ttl)s
    ORDER BY user_id LIMIT %(limit)s
"""

ORDERING_USERS = "SELECT DISTINCT user_id FROM orders ORDER BY user_id"

ACTIVE_MODEL_VERSION = "SELECT version FROM model_versions WHERE kind = %(kind)s AND active"

# A recompute from older inputs never overwrites a list computed from newer ones.
UPSERT_RECOMMENDATIONS = """
    INSERT INTO recommendations AS r
        (user_id, surface, context, ids, scores, model_version, inputs_at, computed_at)
    SELECT user_id, surface, context, ids, scores, model_version, inputs_at, now()
    FROM jsonb_to_recordset(%(rows)s::jsonb) AS x(
        user_id bigint, surface text, context bigint, ids bigint[], scores real[],
        model_version text, inputs_at timestamptz)
    ON CONFLICT (user_id, surface, context) DO UPDATE SET
        ids = EXCLUDED.ids, scores = EXCLUDED.scores, model_version = EXCLUDED.model_version,
        inputs_at = EXCLUDED.inputs_at, computed_at = EXCLUDED.computed_at
    WHERE r.inputs_at <= EXCLUDED.inputs_at
"""

UPSERT_FALLBACKS = """
    INSERT INTO fallback_recommendations AS f
        (city_id, surface, context, ids, scores, model_version, computed_at)
    SELECT city_id, surface, context, ids, scores, model_version, now()
    FROM jsonb_to_recordset(%(rows)s::jsonb) AS x(
        city_id bigint, surface text, context bigint, ids bigint[], scores real[],
        model_version text)
    ON CONFLICT (city_id, surface, context) DO UPDATE SET
        ids = EXCLUDED.ids, scores = EXCLUDED.scores, model_version = EXCLUDED.model_version,
        computed_at = EXCLUDED.computed_at
"""

# The read: one query, two primary-key lookups. The user's own fresh list if there is one,
# else the fallback for the user's city (or for every city), flagged as such.
READ_RECOMMENDATIONS = """
    (SELECT ids, scores, model_version, computed_at, false AS fallback
     FROM recommendations
     WHERE user_id = %(user_id)s AND surface = %(surface)s AND context = %(context)s
       AND computed_at > now() - %(max_age)s)
    UNION ALL
    (SELECT ids, scores, model_version, computed_at, true
     FROM fallback_recommendations
     WHERE surface = %(surface)s AND context = %(context)s
       AND city_id IN (0, (SELECT city_id FROM users WHERE user_id = %(user_id)s))
     ORDER BY city_id DESC LIMIT 1)
    LIMIT 1
"""

RECENT_REJECTIONS = """
    SELECT id, message_id, queue_name, actor_name, reason, raw_body, rejected_at
    FROM rejected_messages ORDER BY rejected_at DESC, id DESC LIMIT %(limit)s
"""

TABLE_COUNTS = """
    SELECT 'cities' AS table_name, count(*) FROM cities
    UNION ALL SELECT 'brands', count(*) FROM brands
    UNION ALL SELECT 'food_categories', count(*) FROM food_categories
    UNION ALL SELECT 'venues', count(*) FROM venues
    UNION ALL SELECT 'items', count(*) FROM items
    UNION ALL SELECT 'banners', count(*) FROM banners
    UNION ALL SELECT 'users', count(*) FROM users
    UNION ALL SELECT 'orders', count(*) FROM orders
    UNION ALL SELECT 'order_lines', count(*) FROM order_lines
    UNION ALL SELECT 'activity_events', count(*) FROM activity_events
    UNION ALL SELECT 'processed_events', count(*) FROM processed_events
    UNION ALL SELECT 'rejected_messages', count(*) FROM rejected_messages
    UNION ALL SELECT 'model_versions', count(*) FROM model_versions
    UNION ALL SELECT 'recommendations', count(*) FROM recommendations
    UNION ALL SELECT 'user_changes', count(*) FROM user_changes
"""
