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
    WITH inserted AS (
    INSERT INTO activity_events (event_id, user_id, kind, surface, venue_id, item_id, banner_id,
                                 brand_id, category_id, position, occurred_at)
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS x(
        event_id text, user_id bigint, kind text, surface text, venue_id bigint, item_id bigint,
        banner_id bigint, brand_id bigint, category_id bigint, position int,
        occurred_at timestamptz)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING user_id
    )
    -- activity changes the user's venue affinity: their lists follow (see INSERT_ORDERS)
    INSERT INTO user_changes (user_id) SELECT DISTINCT user_id FROM inserted
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

ACTIVE_MODEL_AGE = """
    SELECT now() - created_at FROM model_versions WHERE kind = %(kind)s AND active
"""

ACTIVE_MODEL_VERSION = "SELECT version FROM model_versions WHERE kind = %(kind)s AND active"

# Bulk list writes: rows are COPied into a temporary table (dropped at commit), then merged.
INCOMING_LISTS = """
    CREATE TEMP TABLE incoming_lists (
        user_id bigint, surface text, context bigint, ids bigint[], scores real[],
        inputs_at timestamptz) ON COMMIT DROP
"""
COPY_INCOMING_LISTS = "COPY incoming_lists FROM STDIN"

# A recompute from older inputs never overwrites a list computed from newer ones.
UPSERT_RECOMMENDATIONS = """
    INSERT INTO recommendations AS r
        (user_id, surface, context, ids, scores, model_version, inputs_at, computed_at)
    SELECT user_id, surface, context, ids, scores, %(version)s, inputs_at, now()
    FROM incoming_lists
    ON CONFLICT (user_id, surface, context) DO UPDATE SET
        ids = EXCLUDED.ids, scores = EXCLUDED.scores, model_version = EXCLUDED.model_version,
        inputs_at = EXCLUDED.inputs_at, computed_at = EXCLUDED.computed_at
    WHERE r.inputs_at <= EXCLUDED.inputs_at
"""

# A user's list that the new computation no longer produces (a category without enough
# deliverable venues any more, a venue no longer relevant) goes, unless it is newer.
DELETE_DROPPED_LISTS = """
    DELETE FROM recommendations r
    USING (SELECT user_id, max(inputs_at) AS inputs_at FROM incoming_lists GROUP BY user_id) u
    WHERE r.user_id = u.user_id AND r.inputs_at <= u.inputs_at
      AND NOT EXISTS (SELECT 1 FROM incoming_lists n WHERE n.user_id = r.user_id
                      AND n.surface = r.surface AND n.context = r.context)
"""

INCOMING_FALLBACKS = """
    CREATE TEMP TABLE incoming_fallbacks (
        city_id bigint, surface text, context bigint, ids bigint[], scores real[]) ON COMMIT DROP
"""
COPY_INCOMING_FALLBACKS = "COPY incoming_fallbacks FROM STDIN"

UPSERT_FALLBACKS = """
    INSERT INTO fallback_recommendations AS f
        (city_id, surface, context, ids, scores, model_version, computed_at)
    SELECT city_id, surface, context, ids, scores, %(version)s, now() FROM incoming_fallbacks
    ON CONFLICT (city_id, surface, context) DO UPDATE SET
        ids = EXCLUDED.ids, scores = EXCLUDED.scores, model_version = EXCLUDED.model_version,
        computed_at = EXCLUDED.computed_at
"""

# Fallbacks the new model no longer produces (an item without complements, a closed city).
DELETE_DROPPED_FALLBACKS = """
    DELETE FROM fallback_recommendations f WHERE NOT EXISTS (
        SELECT 1 FROM incoming_fallbacks n
        WHERE (n.city_id, n.surface, n.context) = (f.city_id, f.surface, f.context))
"""

# What the rankers read: the catalog snapshot, and a chunk of users with their inputs.
CATALOG_VENUES = """
    SELECT venue_id, city_id, brand_id, lat, lon, delivery_radius_m, cuisines, category_ids,
           rating, active
    FROM venues
"""

USERS_BY_ID = """
    SELECT user_id, city_id, home_lat, home_lon FROM users WHERE user_id = ANY(%(user_ids)s)
"""

USER_ACTIVITY = """
    SELECT user_id, venue_id, occurred_at FROM activity_events
    WHERE user_id = ANY(%(user_ids)s) AND venue_id IS NOT NULL
      AND occurred_at > now() - make_interval(days => %(days)s)
"""

USERS_TO_REFRESH = """
    SELECT user_id FROM users WHERE %(city_id)s::bigint IS NULL OR city_id = %(city_id)s
    UNION
    SELECT DISTINCT user_id FROM orders
    WHERE %(city_id)s::bigint IS NULL OR city_id = %(city_id)s
    ORDER BY user_id
"""

# Refresh runs: progress is counted from chunk rows, never incremented (redelivery-safe).
START_RUN = """
    INSERT INTO refresh_runs (scope, model_version, total_users, total_chunks)
    VALUES (%(scope)s, %(version)s, %(users)s, %(chunks)s) RETURNING run_id
"""

ADD_RUN_CHUNK = """
    INSERT INTO refresh_run_chunks (run_id, chunk, message_id, users)
    VALUES (%(run_id)s, %(chunk)s, %(message_id)s, %(users)s)
"""

FINISH_RUN_CHUNK = """
    UPDATE refresh_run_chunks SET done_at = now()
    WHERE run_id = %(run_id)s AND chunk = %(chunk)s AND done_at IS NULL
"""

RUN_STATUS = """
    SELECT r.run_id, r.scope, r.model_version, r.total_users, r.total_chunks, r.created_at,
           count(c.done_at) AS done_chunks,
           coalesce(sum(c.users) FILTER (WHERE c.done_at IS NOT NULL), 0) AS done_users,
           count(*) FILTER (WHERE c.done_at IS NULL AND EXISTS (
               SELECT 1 FROM rejected_messages m WHERE m.message_id = c.message_id))
               AS failed_chunks,
           max(c.done_at) AS last_done_at
    FROM refresh_runs r LEFT JOIN refresh_run_chunks c USING (run_id)
    WHERE r.run_id = %(run_id)s
    GROUP BY r.run_id
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

# --- the HTTP read API ---------------------------------------------------------------------

# Read-time filters (store/availability.py): the whole catalog's state, reloaded every few
# seconds per serving process. A venue whose city is unknown comes with a NULL timezone.
VENUE_AVAILABILITY = """
    SELECT v.venue_id, v.active, c.timezone, v.opening_hours::text
    FROM venues v LEFT JOIN cities c USING (city_id)
"""

UNAVAILABLE_ITEMS = "SELECT item_id FROM items WHERE NOT available"

# Cart complements: one query, all primary-key lookups. The venue is the cart items' venue (more
# than one venue: `venue_ids` tells, nothing is ranked). Candidates are the complements (city 0,
# surface `cart`, context = item) of every distinct cart item, minus the cart; score = sum of the
# lifts over the cart's items x (1 + affinity), where affinity = the candidate's score in the
# user's fresh `items` list for the venue / that list's top score, else in the venue's `items`
# fallback (then `fallback` is true). `computed_at` is the oldest row used.
READ_CART = """
    WITH cart AS (
        SELECT DISTINCT unnest(%(item_ids)s::bigint[]) AS item_id
    ), venues AS (
        SELECT array_agg(DISTINCT i.venue_id ORDER BY i.venue_id) AS ids
        FROM items i JOIN cart USING (item_id)
    ), venue AS (
        SELECT ids[1] AS venue_id FROM venues WHERE cardinality(ids) = 1
    ), complements AS (
        SELECT f.ids, f.scores, f.model_version, f.computed_at
        FROM fallback_recommendations f
        WHERE f.city_id = 0 AND f.surface = 'cart' AND f.context IN (SELECT item_id FROM cart)
    ), affinity AS (
        (SELECT r.ids, r.scores, r.computed_at, false AS fallback
         FROM recommendations r JOIN venue ON r.context = venue.venue_id
         WHERE r.user_id = %(user_id)s AND r.surface = 'items'
           AND r.computed_at > now() - %(max_age)s)
        UNION ALL
        (SELECT f.ids, f.scores, f.computed_at, true
         FROM fallback_recommendations f JOIN venue ON f.context = venue.venue_id
         WHERE f.city_id = 0 AND f.surface = 'items')
        LIMIT 1
    ), weights AS (
        SELECT a.id, a.score / NULLIF(max(a.score) OVER (), 0) AS weight
        FROM affinity, unnest(affinity.ids, affinity.scores) AS a(id, score)
    ), candidates AS (
        SELECT c.id, sum(c.lift) AS lift
        FROM complements, unnest(complements.ids, complements.scores) AS c(id, lift)
        WHERE c.id NOT IN (SELECT item_id FROM cart)
        GROUP BY c.id
    ), ranked AS (
        SELECT c.id, c.lift * (1 + coalesce(w.weight, 0)) AS score
        FROM candidates c LEFT JOIN weights w USING (id)
        ORDER BY score DESC, c.id
        LIMIT %(limit)s
    )
    SELECT (SELECT ids FROM venues) AS venue_ids,
           array_agg(id ORDER BY score DESC, id) AS ids,
           array_agg(score ORDER BY score DESC, id) AS scores,
           (SELECT model_version FROM complements ORDER BY computed_at DESC LIMIT 1),
           least((SELECT min(computed_at) FROM complements), (SELECT computed_at FROM affinity)),
           coalesce((SELECT fallback FROM affinity), true) AS fallback
    FROM ranked
"""
