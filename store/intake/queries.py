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
# Banner impressions and clicks that were new add to `banner_stats` in the same statement (a
# duplicate adds nothing; a click whose impression never came still counts), per the user's city
# (0: unknown) and lifecycle segment when it happened (domain.recs.banners.lifecycle_segment:
# no order before -> new, the last one over LAPSED_DAYS before -> lapsed, else returning).
INSERT_ACTIVITY = """
    WITH inserted AS (
    INSERT INTO activity_events (event_id, user_id, kind, surface, venue_id, item_id, banner_id,
                                 brand_id, category_id, position, propensity, occurred_at)
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS x(
        event_id text, user_id bigint, kind text, surface text, venue_id bigint, item_id bigint,
        banner_id bigint, brand_id bigint, category_id bigint, position int, propensity real,
        occurred_at timestamptz)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING user_id, kind, venue_id, banner_id, position, occurred_at
    ), banner_events AS (
        SELECT i.banner_id, coalesce(u.city_id, 0) AS city_id,
               CASE WHEN last.placed_at IS NULL THEN 'new'
                    WHEN last.placed_at < i.occurred_at - make_interval(days => 60) THEN 'lapsed'
                    ELSE 'returning' END AS segment,
               coalesce(i.position, 0) AS position, i.kind
        FROM inserted i
        LEFT JOIN users u USING (user_id)
        LEFT JOIN LATERAL (
            SELECT o.placed_at FROM orders o
            WHERE o.user_id = i.user_id AND o.placed_at <= i.occurred_at
            ORDER BY o.placed_at DESC LIMIT 1) last ON true
        WHERE i.banner_id IS NOT NULL AND i.kind IN ('impression', 'click')
    ), counted AS (
        INSERT INTO banner_stats AS s
            (banner_id, city_id, segment, position, impressions, clicks, updated_at)
        SELECT banner_id, city_id, segment, position,
               count(*) FILTER (WHERE kind = 'impression'), count(*) FILTER (WHERE kind = 'click'),
               now()
        FROM banner_events
        GROUP BY banner_id, city_id, segment, position
        ORDER BY banner_id, city_id, segment, position  -- one lock order: no deadlocks
        ON CONFLICT (banner_id, city_id, segment, position) DO UPDATE SET
            impressions = s.impressions + EXCLUDED.impressions,
            clicks = s.clicks + EXCLUDED.clicks, updated_at = now()
    )
    -- intent activity moves the user's venue affinity: their lists follow (see INSERT_ORDERS);
    -- other impressions (most of the traffic) change no input of the lists, so they mark nobody.
    -- Banner activity re-ranks the user's banners once the session is likely over (a minute
    -- later: a session's events coalesce into one refresh).
    INSERT INTO user_changes (user_id, due_at)
    SELECT DISTINCT user_id, now() FROM inserted WHERE kind <> 'impression' AND venue_id IS NOT NULL
    UNION
    SELECT DISTINCT user_id, now() + interval '60 seconds' FROM inserted
    WHERE banner_id IS NOT NULL AND venue_id IS NULL
"""

INTAKE: dict[str, str] = {
    **{event_type: versioned_upsert(spec) for event_type, spec in CATALOG.items()},
    "order.completed": INSERT_ORDERS,
    "activity": INSERT_ACTIVITY,
}

PRUNE_PROCESSED_EVENTS = """
    DELETE FROM processed_events WHERE event_id IN (
        SELECT event_id FROM processed_events
        WHERE processed_at < now() - make_interval(days => %(days)s)
        LIMIT %(chunk)s
    )
"""

# What `larder demo` shows of what landed.
SAMPLE_VENUES = """
    SELECT venue_id, name, city_id, cuisines, rating FROM venues ORDER BY venue_id LIMIT %(limit)s
"""

LATEST_ORDERS = """
    SELECT o.order_id, o.user_id, o.venue_id, o.placed_at, count(*) AS lines
    FROM orders o JOIN order_lines USING (order_id)
    GROUP BY o.order_id ORDER BY o.placed_at DESC, o.order_id LIMIT %(limit)s
"""
