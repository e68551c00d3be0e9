"""Named SQL of the recommendation lists: training snapshots, the model registry, refresh
inputs, bulk list writes, refresh runs and the one-lookup reads."""

from __future__ import annotations

from domain.recs.personal import DAYPARTS

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

# Each order's lines through the primary key, one lookup per order (LATERAL): as a plain join
# grouped by order, the planner over-estimated a job's orders (~2.3x) and hashed them against a
# parallel seq scan of all order_lines, ~130-180 ms of server time per 500-user job on a 100k-user
# world (3 processes busy) instead of ~15 ms. Orders without lines are left out, as by the join.
USER_BASKETS = """
    SELECT o.order_id, o.user_id, o.venue_id, o.placed_at, l.items
    FROM orders o CROSS JOIN LATERAL (
        SELECT array_agg(DISTINCT item_id ORDER BY item_id) AS items
        FROM order_lines WHERE order_id = o.order_id
    ) l
    WHERE o.user_id = ANY(%(user_ids)s) AND l.items IS NOT NULL
    ORDER BY o.order_id
"""

# Claimed by any number of sweepers at once; the caller publishes the refresh jobs before it
# commits, so a failed publish leaves the users dirty (at least once, never lost).
CLAIM_USER_CHANGES = """
    DELETE FROM user_changes WHERE id IN (
        SELECT id FROM user_changes WHERE due_at <= now() ORDER BY id LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    )
    RETURNING user_id, due_at
"""

# A refresh that could not compute some users' lists (a bug, no model yet) marks them due later.
MARK_USERS_DUE = """
    INSERT INTO user_changes (user_id, due_at)
    SELECT unnest(%(user_ids)s::bigint[]), now() + %(delay)s
"""

STALE_LIST_USERS = """
    SELECT DISTINCT user_id FROM recommendations
    WHERE computed_at < now() - %(ttl)s
    ORDER BY user_id LIMIT %(limit)s
"""

# Known users (with a home, or with orders) without any stored list.
USERS_WITHOUT_LISTS = """
    SELECT u.user_id FROM (SELECT user_id FROM users UNION SELECT user_id FROM orders) u
    WHERE NOT EXISTS (SELECT 1 FROM recommendations r WHERE r.user_id = u.user_id)
    ORDER BY u.user_id LIMIT %(limit)s
"""

# What the retraining duty compares: the active version's age and training size, and the
# orders there are now (counted up to `cap`: the count costs at most what deciding needs).
ACTIVE_MODEL_STATE = """
    SELECT version, now() - created_at, (trained_on ->> 'orders')::bigint
    FROM model_versions WHERE kind = %(kind)s AND active
"""

ORDERS_UP_TO = "SELECT count(*) FROM (SELECT 1 FROM orders LIMIT %(cap)s) o"

ACTIVE_MODEL_AGE = """
    SELECT now() - created_at FROM model_versions WHERE kind = %(kind)s AND active
"""

ACTIVE_MODEL_VERSION = "SELECT version FROM model_versions WHERE kind = %(kind)s AND active"

# Bulk list writes: rows are COPied into a temporary table (dropped at commit), then merged.
# No index on it: nothing probes it since lists are packed per user and surface (migration
# 0008), and building one cost ~5-10 % of a job's write. The rows are unique per (user_id,
# surface) by construction (store/recs/pgcopy.py).
INCOMING_LISTS = """
    CREATE TEMP TABLE incoming_lists (
        user_id bigint, surface text, contexts bigint[], bounds int[], ids bigint[],
        scores real[], inputs_at timestamptz
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
           -- lifts and affinities are float4: 4 places, as the stored lists, not their noise
           array_agg(round(score::numeric, 4)::float8 ORDER BY score DESC, id) AS scores,
           (SELECT model_version FROM complements ORDER BY computed_at DESC LIMIT 1),
           least((SELECT min(computed_at) FROM complements), (SELECT computed_at FROM affinity)),
           coalesce((SELECT fallback FROM affinity), true) AS fallback
    FROM ranked
"""

# `larder demo`: a user with an items list, one of their category lists, and a cart: the items of
# their last order at that venue that have complements (preferring users who have all three).
DEMO_USER = """
        SELECT user_id, category, venue_id, cart FROM (
            SELECT r.user_id, v.venue_id,
                   (SELECT c.contexts[1] FROM recommendations c
                    WHERE c.user_id = r.user_id AND c.surface = 'category') AS category,
                   (SELECT array_agg(l.item_id) FROM order_lines l
                    WHERE l.order_id = (SELECT order_id FROM orders o
                                        WHERE o.user_id = r.user_id AND o.venue_id = v.venue_id
                                        ORDER BY placed_at DESC LIMIT 1)
                      AND EXISTS (SELECT 1 FROM fallback_recommendations f
                                  WHERE f.surface = 'cart' AND f.context = l.item_id)) AS cart
            FROM recommendations r, unnest(r.contexts) AS v(venue_id) WHERE r.surface = 'items'
        ) candidates
        ORDER BY category IS NULL, cart IS NULL, user_id, venue_id
        LIMIT 1
    """

# The contexts a user has personal lists for on a surface (`larder recs show` without one).
USER_CONTEXTS = """
    SELECT contexts FROM recommendations WHERE user_id = %(user_id)s AND surface = %(surface)s
"""

# What the rankers' catalog snapshot is keyed by: a change of any venue changes it.
CATALOG_VERSION = "SELECT count(*), max(updated_at) FROM venues"

# Brands, food categories and banners (store/recs/personal.py): what their rankers read besides
# the venue catalog.
ALL_BANNERS = """
    SELECT banner_id, city_ids, category_ids, brand_ids, venue_ids, segments, starts_at, ends_at,
           active AND NOT EXISTS (
               SELECT 1 FROM recs_overrides o
               WHERE o.action = 'pause' AND o.target = 'banner' AND o.target_id = b.banner_id
                 AND o.starts_at <= now() AND (o.ends_at IS NULL OR o.ends_at > now()))
    FROM banners b
"""

BANNERS_VERSION = "SELECT count(*), max(updated_at) FROM banners"

BANNER_STATS = """
    SELECT banner_id, city_id, segment, position, impressions, clicks FROM banner_stats
"""

VENUE_HOURS = "SELECT venue_id, opening_hours::text FROM venues"

USER_TAGS = """
    SELECT user_id, segment FROM users WHERE user_id = ANY(%(user_ids)s) AND segment IS NOT NULL
"""

# A brand, category or banner read: the user's own fresh row (the ordering at context 0; banners
# keep their propensities at context 1) else the city's fallback, then, per entry, the checks a
# read must never skip, against the catalog as it is now (so an older row cannot serve what has
# ended): a banner is live (flight to the second, active, not paused) and not excluded for the
# user; a brand or category still has an active venue that delivers to the user's home (a user
# without a known home: an active venue at all), a brand is not excluded for the user. Pins of
# the user's city in their period come back as (banner, slot) for the caller to place.
_READ_PERSONAL_HEAD = """
    WITH u AS (SELECT city_id, home_lat, home_lon FROM users WHERE user_id = %(user_id)s),
    ctx AS (SELECT {context} AS context),
    chosen AS (
        (SELECT r.ids[r.bounds[k] + 1 : r.bounds[k + 1]] AS ids,
                r.scores[r.bounds[k] + 1 : r.bounds[k + 1]] AS scores,
                r.scores[r.bounds[p] + 1 : r.bounds[p + 1]] AS props,
                r.model_version, r.computed_at, false AS fallback
         FROM recommendations r, array_position(r.contexts, (SELECT context FROM ctx)) AS k,
              array_position(r.contexts, %(propensities)s::bigint) AS p
         WHERE r.user_id = %(user_id)s AND r.surface = %(surface)s AND k IS NOT NULL
           AND r.computed_at > now() - %(max_age)s)
        UNION ALL
        (SELECT f.ids, f.scores, p.scores, f.model_version, f.computed_at, true
         FROM fallback_recommendations f
         LEFT JOIN fallback_recommendations p ON p.city_id = f.city_id
              AND p.surface = f.surface AND p.context = %(propensities)s
         WHERE f.surface = %(surface)s AND f.context = (SELECT context FROM ctx)
           AND f.city_id IN (0, (SELECT city_id FROM u))
         ORDER BY f.city_id DESC LIMIT 1)
        LIMIT 1
    ), entries AS (
        SELECT e.id, e.score, e.prop, e.n
        FROM chosen, unnest(chosen.ids, chosen.scores, chosen.props) WITH ORDINALITY
             AS e(id, score, prop, n)
        WHERE e.id IS NOT NULL
    ), excluded AS (
        SELECT o.target_id FROM recs_overrides o
        WHERE o.user_id = %(user_id)s AND o.action = 'exclude' AND o.target = %(target)s
          AND o.starts_at <= now() AND (o.ends_at IS NULL OR o.ends_at > now())
    )"""

_LIVE_BANNER = """
    b.active AND b.starts_at <= now() AND b.ends_at > now()
    AND NOT EXISTS (
        SELECT 1 FROM recs_overrides o
        WHERE o.action = 'pause' AND o.target = 'banner' AND o.target_id = b.banner_id
          AND o.starts_at <= now() AND (o.ends_at IS NULL OR o.ends_at > now()))
    AND b.banner_id NOT IN (SELECT target_id FROM excluded)"""

_GIVEN_CONTEXT = "%(context)s::bigint"


def _daypart_of(hour: str) -> str:
    """SQL: the day-part id of a local hour, from domain.recs.personal.DAYPARTS (as
    `daypart_at`: hours are [starts, ends), a part past midnight wraps)."""
    whens = [
        f"WHEN {hour} >= {p.starts} AND {hour} < {p.ends} THEN {p.id}"
        if p.starts < p.ends
        else f"WHEN {hour} >= {p.starts} OR {hour} < {p.ends} THEN {p.id}"
        for p in DAYPARTS
    ]
    return f"CASE {' '.join(whens)} END"


# Food categories read at context 0 take the day-part now in the user's city's time zone (UTC
# for an unknown user or zone: larder_local_hour, migration 0090), in the same statement.
_DAYPART_NOW = f"""CASE WHEN %(context)s::bigint <> 0 THEN %(context)s::bigint ELSE (
        SELECT {_daypart_of("h")} FROM (SELECT larder_local_hour(
            (SELECT c.timezone FROM users uu JOIN cities c USING (city_id)
             WHERE uu.user_id = %(user_id)s), now()) AS h) local) END"""


def _head(context: str) -> str:
    return _READ_PERSONAL_HEAD.replace("{context}", context)


READ_BANNERS = (
    _head(_GIVEN_CONTEXT)
    + f""", live AS (
        SELECT e.* FROM entries e JOIN banners b ON b.banner_id = e.id WHERE {_LIVE_BANNER}
    ), pins AS (
        SELECT DISTINCT ON (o.slot) o.target_id, o.slot
        FROM recs_overrides o JOIN banners b ON b.banner_id = o.target_id
        WHERE o.action = 'pin' AND o.target = 'banner' AND o.city_id = (SELECT city_id FROM u)
          AND o.starts_at <= now() AND (o.ends_at IS NULL OR o.ends_at > now())
          AND {_LIVE_BANNER}
        ORDER BY o.slot, o.override_id DESC
    )
    SELECT (SELECT array_agg(id ORDER BY n) FROM live),
           (SELECT array_agg(score ORDER BY n) FROM live),
           (SELECT array_agg(prop ORDER BY n) FROM live),
           chosen.model_version, chosen.computed_at, chosen.fallback,
           (SELECT array_agg(target_id ORDER BY slot) FROM pins),
           (SELECT array_agg(slot ORDER BY slot) FROM pins), (SELECT context FROM ctx)
    FROM chosen
"""
)

# Great-circle distance in metres (as domain.geo: haversine, R = 6,371 km).
_DELIVERS = """
    v.active AND (
        NOT EXISTS (SELECT 1 FROM u)
        OR (v.city_id = (SELECT city_id FROM u) AND 2 * 6371000 * asin(sqrt(
            power(sin(radians(v.lat - (SELECT home_lat FROM u)) / 2), 2)
            + cos(radians(v.lat)) * cos(radians((SELECT home_lat FROM u)))
              * power(sin(radians(v.lon - (SELECT home_lon FROM u)) / 2), 2)))
            <= v.delivery_radius_m))"""

READ_BRANDS = (
    _head(_GIVEN_CONTEXT)
    + f""", live AS (
        SELECT e.* FROM entries e
        WHERE e.id NOT IN (SELECT target_id FROM excluded)
          AND EXISTS (SELECT 1 FROM venues v WHERE v.brand_id = e.id AND {_DELIVERS})
    )
    SELECT (SELECT array_agg(id ORDER BY n) FROM live), (SELECT array_agg(score ORDER BY n) FROM live),
           NULL::real[], chosen.model_version, chosen.computed_at, chosen.fallback,
           NULL::bigint[], NULL::int[], (SELECT context FROM ctx)
    FROM chosen
"""
)

READ_FOOD_CATEGORIES = (
    _head(_DAYPART_NOW)
    + f""", live AS (
        SELECT e.* FROM entries e
        WHERE EXISTS (SELECT 1 FROM venues v WHERE e.id = ANY(v.category_ids) AND {_DELIVERS})
    )
    SELECT (SELECT array_agg(id ORDER BY n) FROM live), (SELECT array_agg(score ORDER BY n) FROM live),
           NULL::real[], chosen.model_version, chosen.computed_at, chosen.fallback,
           NULL::bigint[], NULL::int[], (SELECT context FROM ctx)
    FROM chosen
"""
)

# Overrides (`larder recs overrides`).
ADD_OVERRIDE = """
    INSERT INTO recs_overrides (action, target, target_id, city_id, user_id, slot, starts_at,
                                ends_at, reason)
    VALUES (%(action)s, %(target)s, %(target_id)s, %(city_id)s, %(user_id)s, %(slot)s,
            coalesce(%(starts_at)s, now()), %(ends_at)s, %(reason)s)
    RETURNING override_id
"""

LIST_OVERRIDES = """
    SELECT override_id, action, target, target_id, city_id, user_id, slot, starts_at, ends_at,
           reason, created_at,
           starts_at <= now() AND (ends_at IS NULL OR ends_at > now()) AS in_effect
    FROM recs_overrides ORDER BY override_id
"""

REMOVE_OVERRIDE = "DELETE FROM recs_overrides WHERE override_id = %(override_id)s RETURNING 1"

# `larder simulate banners`: what has landed (the run's events; banner orderings since a time).
RUN_ACTIVITY = "SELECT count(*) FROM activity_events WHERE event_id LIKE %(prefix)s"
BANNER_ROWS_SINCE = """
    SELECT count(*) FROM recommendations WHERE surface = 'banners' AND computed_at >= %(since)s
"""
KNOWN_USERS = "SELECT count(*) FROM users"
KNOWN_BANNERS = "SELECT count(*) FROM banners WHERE banner_id = ANY(%(ids)s)"

# `larder eval banners --export`: larder's own banner impressions as an evaluation log (the Open
# Bandit Dataset's columns): clicked when the user clicked that banner in that slot before the
# next impression of it there, and within 30 minutes; only impressions that carry the serving
# policy's propensity.
BANNER_IMPRESSION_LOG = """
    WITH shown AS (
        SELECT user_id, banner_id, position, occurred_at, propensity,
               lead(occurred_at) OVER (PARTITION BY user_id, banner_id, position
                                       ORDER BY occurred_at, event_id) AS next_at
        FROM activity_events
        WHERE kind = 'impression' AND banner_id IS NOT NULL AND propensity IS NOT NULL
    )
    SELECT i.occurred_at, i.banner_id, i.position + 1, EXISTS (
               SELECT 1 FROM activity_events c
               WHERE c.user_id = i.user_id AND c.kind = 'click' AND c.banner_id = i.banner_id
                 AND c.position IS NOT DISTINCT FROM i.position
                 AND c.occurred_at >= i.occurred_at
                 AND c.occurred_at < least(coalesce(i.next_at, 'infinity'),
                                           i.occurred_at + make_interval(mins => 30))),
           i.propensity, coalesce(u.city_id, 0)
    FROM shown i LEFT JOIN users u USING (user_id)
    ORDER BY i.occurred_at
"""

# Banners that went live in (since, until] -- their flight started, they were created or changed
# while in flight, or a pause of theirs ran out -- mark the users of their cities (every user
# for a banner of every city) for a re-rank, once each: a user already waiting for a refresh
# is not marked again. (Orderings are precomputed from the banners live at the time: a banner
# that starts later would otherwise reach a user only at their next re-rank.)
MARK_BANNER_AUDIENCES = """
    WITH went_live AS (
        SELECT b.city_ids FROM banners b
        WHERE b.active AND b.starts_at <= %(until)s AND b.ends_at > %(until)s
          AND (b.starts_at > %(since)s
               OR (b.updated_at > %(since)s AND b.updated_at <= %(until)s)
               OR EXISTS (SELECT 1 FROM recs_overrides o
                          WHERE o.action = 'pause' AND o.target = 'banner'
                            AND o.target_id = b.banner_id
                            AND o.ends_at > %(since)s AND o.ends_at <= %(until)s))
          AND NOT EXISTS (SELECT 1 FROM recs_overrides o
                          WHERE o.action = 'pause' AND o.target = 'banner'
                            AND o.target_id = b.banner_id AND o.starts_at <= %(until)s
                            AND (o.ends_at IS NULL OR o.ends_at > %(until)s))
    ), audience AS (
        SELECT DISTINCT u.user_id FROM users u, went_live b
        WHERE cardinality(b.city_ids) = 0 OR u.city_id = ANY(b.city_ids)
    )
    INSERT INTO user_changes (user_id, due_at)
    SELECT a.user_id, now() FROM audience a
    WHERE NOT EXISTS (SELECT 1 FROM user_changes c WHERE c.user_id = a.user_id)
"""
