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
    RETURNING user_id, kind, venue_id
    )
    -- intent activity moves the user's venue affinity: their lists follow (see INSERT_ORDERS);
    -- impressions (most of the traffic) change no input of the lists, so they mark nobody
    INSERT INTO user_changes (user_id)
    SELECT DISTINCT user_id FROM inserted WHERE kind <> 'impression' AND venue_id IS NOT NULL
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

ACTIVE_MODEL_AGE = """
    SELECT now() - created_at FROM model_versions WHERE kind = %(kind)s AND active
"""

ACTIVE_MODEL_VERSION = "SELECT version FROM model_versions WHERE kind = %(kind)s AND active"

# Bulk list writes: rows are COPied into a temporary table (dropped at commit), then merged.
INCOMING_LISTS = """
    CREATE TEMP TABLE incoming_lists (
        user_id bigint, surface text, contexts bigint[], bounds int[], ids bigint[],
        scores real[], inputs_at timestamptz,
        PRIMARY KEY (user_id, surface)  -- the delete below probes it per stored row
    ) WITH (toast_tuple_target = 8160) ON COMMIT DROP  -- as `recommendations`: no TOAST work
"""
COPY_INCOMING_LISTS = "COPY incoming_lists FROM STDIN (FORMAT binary)"  # store/pgcopy.py

# A recompute from older inputs never overwrites a list computed from newer ones.
UPSERT_RECOMMENDATIONS = """
    INSERT INTO recommendations AS r
        (user_id, surface, contexts, bounds, ids, scores, model_version, inputs_at, computed_at)
    SELECT user_id, surface, contexts, bounds, ids, scores, %(version)s, inputs_at, now()
    FROM incoming_lists
    ON CONFLICT (user_id, surface) DO UPDATE SET
        contexts = EXCLUDED.contexts, bounds = EXCLUDED.bounds, ids = EXCLUDED.ids,
        scores = EXCLUDED.scores, model_version = EXCLUDED.model_version,
        inputs_at = EXCLUDED.inputs_at, computed_at = EXCLUDED.computed_at
    WHERE r.inputs_at <= EXCLUDED.inputs_at
"""

# After a bulk refresh: the planner needs the table's shape (autovacuum may be off or late; a
# never-analysed `recommendations` makes the per-user statements above scan the whole table).
ANALYZE_LISTS = "ANALYZE recommendations, fallback_recommendations"

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

# Per user and venue: the newest event, and the events' sum of 2^(-age at the newest event /
# half-life), i.e. what affinity decay leaves of them then (domain.recs.lists.Activity). The
# powers are taken from the window's start, so each is at most 2^(days / half-life).
USER_ACTIVITY = """
    WITH w AS (SELECT now() - make_interval(days => %(days)s) AS start)
    SELECT user_id, venue_id, max(occurred_at),
           sum(power(2.0::float8, extract(epoch FROM occurred_at - w.start)::float8 / %(half)s))
           / power(2.0::float8, extract(epoch FROM max(occurred_at) - w.start)::float8 / %(half)s)
    FROM activity_events, w
    WHERE user_id = ANY(%(user_ids)s) AND kind <> 'impression' AND venue_id IS NOT NULL
      AND occurred_at > w.start
    GROUP BY user_id, venue_id, w.start
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

# The read: one query, two primary-key lookups. The user's own fresh list if there is one (its
# slice of the surface's row), else the fallback for the user's city (or for every city),
# flagged as such.
READ_RECOMMENDATIONS = """
    (SELECT r.ids[r.bounds[k] + 1 : r.bounds[k + 1]], r.scores[r.bounds[k] + 1 : r.bounds[k + 1]],
            r.model_version, r.computed_at, false AS fallback
     FROM recommendations r, array_position(r.contexts, %(context)s::bigint) AS k
     WHERE r.user_id = %(user_id)s AND r.surface = %(surface)s AND k IS NOT NULL
       AND r.computed_at > now() - %(max_age)s)
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
        (SELECT r.ids[r.bounds[k] + 1 : r.bounds[k + 1]] AS ids,
                r.scores[r.bounds[k] + 1 : r.bounds[k + 1]] AS scores, r.computed_at,
                false AS fallback
         FROM venue, recommendations r, array_position(r.contexts, venue.venue_id) AS k
         WHERE r.user_id = %(user_id)s AND r.surface = 'items' AND k IS NOT NULL
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

# --- order-problem checks (store/order_checks.py, store/inbox.py) ---------------------------
# Rule times (`now`, `since`, due times) are always parameters from the checks' clock
# (workers/clock.py), never Postgres' now(): a simulation runs the clock faster.

# Rows are created before they are locked, in order_id order, so that concurrent transactions
# meet on the same rows in the same order (no deadlock); the row lock serialises each order.
ORDER_PLACEHOLDERS = """
    INSERT INTO order_states (order_id)
    SELECT order_id FROM unnest(%(order_ids)s::text[]) AS u(order_id) ORDER BY order_id
    ON CONFLICT (order_id) DO NOTHING
"""

LOCK_ORDERS = """
    SELECT order_id, judged_at, state::text FROM order_states
    WHERE order_id = ANY(%(order_ids)s::text[])
    ORDER BY order_id
    FOR UPDATE
"""

# Timers: a partial index holds only rows with a due time, so a sweep reads due rows only.
CLAIM_DUE_ORDERS = """
    SELECT order_id, judged_at, state::text FROM order_states
    WHERE next_due_at <= %(now)s
    ORDER BY next_due_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
"""

RECORD_ORDER_EVENTS = """
    INSERT INTO processed_events (event_id, event_type)
    SELECT event_id, event_type
    FROM unnest(%(event_ids)s::text[], %(event_types)s::text[]) AS u(event_id, event_type)
    ORDER BY event_id
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
"""

# One statement per order, sent with executemany (pipelined: one round trip). Passing the
# states as one array instead costs more in the client than everything else (array quoting
# of ~10 kB strings); COPY into a scratch table and one UPDATE measured the same.
WRITE_ORDER_STATE = """
    UPDATE order_states SET
        state = %(state)s::json, version = version + 1, last_sequence = %(last_sequence)s,
        venue_id = %(venue_id)s, city_id = %(city_id)s, known = %(known)s,
        terminal = %(terminal)s, next_due_at = %(due)s, judged_at = %(judged_at)s,
        updated_at = now()
    WHERE order_id = %(order_id)s
"""

SET_ORDER_TIMERS = """
    UPDATE order_states s SET next_due_at = u.next_due_at, judged_at = u.judged_at
    FROM unnest(%(order_ids)s::text[], %(due)s::timestamptz[], %(judged_at)s::timestamptz[])
        AS u(order_id, next_due_at, judged_at)
    WHERE s.order_id = u.order_id
"""

# A worker process's watermark (actors/inflight.py): it may go down (a late message), and one
# process never writes its row from two threads at once.
ADVANCE_WATERMARK = """
    INSERT INTO checks_watermarks AS w (worker, low_water_at, updated_at)
    VALUES (%(worker)s, %(mark)s, %(now)s)
    ON CONFLICT (worker) DO UPDATE SET
        low_water_at = EXCLUDED.low_water_at, updated_at = EXCLUDED.updated_at
"""

# Watermarks written in the window (rows of processes gone quiet or gone drop out; rows ahead
# of it come from another clock, e.g. an earlier simulation), but for one process's own.
READ_WATERMARKS = """
    SELECT low_water_at, updated_at FROM checks_watermarks
    WHERE updated_at > %(since)s AND updated_at <= %(until)s AND worker <> %(exclude)s
"""

PRUNE_WATERMARKS = "DELETE FROM checks_watermarks WHERE updated_at < %(now)s - interval '1 day'"

# Live records (episodes not ended) of some orders, and of some venues' venue-level rules.
LIVE_PROBLEMS = """
    SELECT problem_id, rule, order_id, venue_id, severity, muted, since,
           resolved_at IS NOT NULL AS resolved
    FROM order_problems
    WHERE ended_at IS NULL
      AND (order_id = ANY(%(order_ids)s::text[])
           OR (order_id IS NULL AND venue_id = ANY(%(venue_ids)s::bigint[])))
"""

OPEN_PROBLEMS = """
    WITH opened AS (
        INSERT INTO order_problems (rule, order_id, venue_id, city_id, severity, status, muted,
                                    since, opened_at, last_seen_at, details)
        SELECT rule, order_id, venue_id, city_id, severity, 'open', muted, since, %(now)s,
               %(now)s, details
        FROM jsonb_to_recordset(%(rows)s::jsonb) AS x(rule text, order_id text, venue_id bigint,
             city_id bigint, severity text, muted boolean, since timestamptz, details jsonb)
        RETURNING problem_id, severity, muted
    )
    INSERT INTO problem_history (problem_id, at, change, actor, details)
    SELECT problem_id, %(now)s, 'opened', 'larder',
           jsonb_build_object('severity', severity, 'muted', muted)
    FROM opened
"""

# `muted` is written only when this evaluation changed it, so a stale read of the venue's
# problems never undoes what the venue sweep just did.
SEE_PROBLEMS = """
    UPDATE order_problems p SET
        severity = x.severity,
        muted = CASE WHEN x.mute_changed THEN x.muted ELSE p.muted END,
        details = x.details,
        last_seen_at = %(now)s
    FROM jsonb_to_recordset(%(rows)s::jsonb)
        AS x(problem_id bigint, severity text, muted boolean, mute_changed boolean, details jsonb)
    WHERE p.problem_id = x.problem_id AND p.ended_at IS NULL
"""

LOCK_PROBLEMS = """
    SELECT problem_id FROM order_problems WHERE problem_id = ANY(%(problem_ids)s::bigint[])
    ORDER BY problem_id
    FOR UPDATE
"""

LOG_PROBLEM_CHANGES = """
    INSERT INTO problem_history (problem_id, at, change, actor, note, details)
    SELECT problem_id, %(now)s, change, actor, note, details
    FROM jsonb_to_recordset(%(rows)s::jsonb)
        AS x(problem_id bigint, change text, actor text, note text, details jsonb)
"""

# An episode ends; its record resolves unless an agent resolved it already (then the history
# says `ended`). Returns the records this resolved, for the metrics.
END_PROBLEMS = """
    WITH ended AS (
        UPDATE order_problems p SET
            ended_at = %(now)s, last_seen_at = %(now)s, status = 'resolved',
            resolved_at = coalesce(p.resolved_at, %(now)s),
            resolution = coalesce(p.resolution, x.how)
        FROM jsonb_to_recordset(%(rows)s::jsonb) AS x(problem_id bigint, how text)
        WHERE p.problem_id = x.problem_id AND p.ended_at IS NULL
        RETURNING p.problem_id, p.rule, p.resolution, x.how
    ), logged AS (
        INSERT INTO problem_history (problem_id, at, change, actor, note)
        SELECT problem_id, %(now)s, CASE WHEN resolution = how THEN 'resolved' ELSE 'ended' END,
               'larder', how
        FROM ended
    )
    SELECT rule, how FROM ended WHERE resolution = how
"""

UPSERT_VENUE_OUTCOMES = """
    INSERT INTO venue_outcomes (order_id, venue_id, at, failed)
    SELECT order_id, venue_id, at, failed
    FROM jsonb_to_recordset(%(rows)s::jsonb)
        AS x(order_id text, venue_id bigint, at timestamptz, failed boolean)
    ON CONFLICT (order_id) DO UPDATE SET
        venue_id = EXCLUDED.venue_id, at = EXCLUDED.at, failed = EXCLUDED.failed
"""

LOG_VENUE_CHANGES = """
    INSERT INTO venue_changes (venue_id, city_id)
    SELECT venue_id, city_id FROM unnest(%(venue_ids)s::bigint[], %(city_ids)s::bigint[])
        AS u(venue_id, city_id)
"""

CLAIM_VENUE_CHANGES = """
    DELETE FROM venue_changes WHERE id IN (
        SELECT id FROM venue_changes ORDER BY id LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    )
    RETURNING venue_id, city_id
"""

VENUE_PLACEHOLDERS = """
    INSERT INTO venue_checks (venue_id, city_id)
    SELECT venue_id, city_id FROM unnest(%(venue_ids)s::bigint[], %(city_ids)s::bigint[])
        AS u(venue_id, city_id)
    ORDER BY venue_id
    ON CONFLICT (venue_id) DO NOTHING
"""

# The venues with claimed changes plus those whose timer is due; a venue another sweep holds is
# skipped (nobody waits, so sweeps never deadlock).
LOCK_VENUES = """
    SELECT venue_id, city_id FROM venue_checks
    WHERE venue_id IN (
        SELECT unnest(%(venue_ids)s::bigint[])
        UNION
        (SELECT venue_id FROM venue_checks WHERE next_due_at <= %(now)s
         ORDER BY next_due_at LIMIT %(limit)s)
    )
    ORDER BY venue_id
    FOR UPDATE SKIP LOCKED
"""

VENUE_OUTCOMES = """
    SELECT venue_id, order_id, at, failed FROM venue_outcomes
    WHERE venue_id = ANY(%(venue_ids)s::bigint[]) AND at > %(oldest)s
"""

# Orders of these venues with a live record of the rule (muted or not, resolved or not).
VENUE_ORDERS_WITH = """
    SELECT venue_id, order_id, since FROM order_problems
    WHERE ended_at IS NULL AND order_id IS NOT NULL AND rule = %(rule)s
      AND venue_id = ANY(%(venue_ids)s::bigint[])
"""

SET_VENUE_TIMERS = """
    UPDATE venue_checks v SET next_due_at = u.next_due_at, checked_at = %(now)s
    FROM unnest(%(venue_ids)s::bigint[], %(due)s::timestamptz[]) AS u(venue_id, next_due_at)
    WHERE v.venue_id = u.venue_id
"""

# Inhibition by venue-level problems: mute (or unmute) the live per-order records of `rules`,
# locked first in problem_id order (as order transactions lock them).
LOCK_VENUE_ORDER_PROBLEMS = """
    SELECT problem_id FROM order_problems
    WHERE ended_at IS NULL AND order_id IS NOT NULL AND rule = ANY(%(rules)s::text[])
      AND venue_id = ANY(%(venue_ids)s::bigint[]) AND muted <> %(muted)s
    ORDER BY problem_id
    FOR UPDATE
"""

SET_MUTED = """
    WITH changed AS (
        UPDATE order_problems SET
            muted = %(muted)s,
            details = CASE WHEN %(muted)s THEN details || %(muted_by)s::jsonb
                           ELSE details - 'muted_by' END
        WHERE ended_at IS NULL AND order_id IS NOT NULL AND rule = ANY(%(rules)s::text[])
          AND venue_id = ANY(%(venue_ids)s::bigint[]) AND muted <> %(muted)s
        RETURNING problem_id
    )
    INSERT INTO problem_history (problem_id, at, change, actor)
    SELECT problem_id, %(now)s, CASE WHEN %(muted)s THEN 'muted' ELSE 'unmuted' END, 'larder'
    FROM changed
"""

PROBLEM_COLUMNS = """
    problem_id, rule, status, severity, muted, order_id, venue_id, city_id, since, opened_at,
    last_seen_at, ended_at, acknowledged_at, acknowledged_by, resolved_at, resolution,
    resolved_by, details
"""

INBOX = f"""
    SELECT {PROBLEM_COLUMNS} FROM order_problems
    WHERE (%(status)s::text IS NULL OR status = %(status)s)
      AND (%(city_id)s::bigint IS NULL OR city_id = %(city_id)s)
      AND (%(rule)s::text IS NULL OR rule = %(rule)s)
    ORDER BY opened_at DESC, problem_id DESC
    LIMIT %(limit)s
"""

PROBLEM_BY_ID = f"SELECT {PROBLEM_COLUMNS} FROM order_problems WHERE problem_id = %(problem_id)s"

PROBLEM_HISTORY = """
    SELECT at, change, actor, note, details FROM problem_history
    WHERE problem_id = %(problem_id)s ORDER BY id
"""

ACKNOWLEDGE_PROBLEM = """
    UPDATE order_problems SET acknowledged_at = %(now)s, acknowledged_by = %(agent)s
    WHERE problem_id = %(problem_id)s AND resolved_at IS NULL AND acknowledged_at IS NULL
    RETURNING problem_id
"""

RESOLVE_PROBLEM = """
    UPDATE order_problems SET
        status = 'resolved', resolved_at = %(now)s, resolution = 'agent', resolved_by = %(agent)s
    WHERE problem_id = %(problem_id)s AND resolved_at IS NULL
    RETURNING problem_id, rule
"""

LOG_AGENT_ACTION = """
    INSERT INTO problem_history (problem_id, at, change, actor, note)
    VALUES (%(problem_id)s, %(now)s, %(change)s, %(agent)s, %(note)s)
"""

OPEN_PROBLEM_COUNTS = """
    SELECT rule, count(*) FILTER (WHERE NOT muted), count(*) FILTER (WHERE muted)
    FROM order_problems WHERE status = 'open' GROUP BY rule
"""

# Finished orders, and orders whose order.created never came, untouched for `days`.
PRUNE_FINISHED_ORDERS = """
    DELETE FROM order_states WHERE order_id IN (
        SELECT order_id FROM order_states
        WHERE (terminal OR NOT known) AND updated_at < now() - make_interval(days => %(days)s)
        LIMIT %(chunk)s
    )
"""

PRUNE_VENUE_OUTCOMES = """
    DELETE FROM venue_outcomes WHERE order_id IN (
        SELECT order_id FROM venue_outcomes
        WHERE at < %(now)s - make_interval(days => %(days)s)
        LIMIT %(chunk)s
    )
"""

# `larder simulate`: every record of one run (its orders, and its venues' venue-level rules).
SIMULATED_PROBLEMS = """
    SELECT rule, order_id, venue_id, since, opened_at FROM order_problems
    WHERE order_id LIKE %(orders)s
       OR (order_id IS NULL AND venue_id BETWEEN %(low)s AND %(high)s)
"""
