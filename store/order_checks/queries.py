"""Named SQL of the order-problem checks (store/order_checks/__init__.py, inbox.py).

Rule times (`now`, `since`, due times) are always parameters from the checks' clock
(workers/clock.py), never Postgres' now(): a simulation runs the clock faster.
"""

from __future__ import annotations

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
    SELECT order_id, judged_at, state::text, next_due_at FROM order_states
    WHERE order_id = ANY(%(order_ids)s::text[])
    ORDER BY order_id
    FOR UPDATE
"""

# Timers: a partial index holds only rows with a due time, so a sweep reads due rows only.
CLAIM_DUE_ORDERS = """
    SELECT order_id, judged_at, state::text, next_due_at FROM order_states
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

# One statement for every order of a transaction, its values as binary arrays (`%b`: no text
# quoting of ~4-10 kB states, which made a text array cost more than a statement per order);
# measured beside executemany (pipelined) on 20,000 states: client CPU 41 against 55-74 us per
# order in groups of 48, 27 against 33-37 in groups of 1,000; the server's the same.
WRITE_ORDER_STATE = """
    UPDATE order_states s SET
        state = u.state::json, version = s.version + 1, last_sequence = u.last_sequence,
        venue_id = u.venue_id, city_id = u.city_id, known = u.known,
        terminal = u.terminal, next_due_at = u.due, judged_at = u.judged_at,
        updated_at = now()
    FROM unnest(%(order_ids)b::text[], %(states)b::text[], %(last_sequences)b::bigint[],
                %(venue_ids)b::bigint[], %(city_ids)b::bigint[], %(known)b::boolean[],
                %(terminal)b::boolean[], %(due)b::timestamptz[], %(judged_at)b::timestamptz[])
        AS u(order_id, state, last_sequence, venue_id, city_id, known, terminal, due, judged_at)
    WHERE s.order_id = u.order_id
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


def _cause(muted_by: str, order_id: str, venue_id: str) -> str:
    """The live record of the cause `muted_by` names: a rule of the same order, else a venue
    rule of its venue (both through the partial unique indexes of live records)."""
    return f"""coalesce(
        (SELECT c.problem_id FROM order_problems c WHERE c.ended_at IS NULL
            AND c.order_id = {order_id} AND c.rule = {muted_by}),
        (SELECT c.problem_id FROM order_problems c WHERE c.ended_at IS NULL
            AND c.order_id IS NULL AND c.venue_id = {venue_id} AND c.rule = {muted_by}))"""


# Records muted by a cause are opened after their causes (a second statement when needed), so
# that the cause's record is there to be named.
OPEN_PROBLEMS = f"""
    WITH opened AS (
        INSERT INTO order_problems (rule, order_id, venue_id, city_id, severity, status, muted,
                                    since, opened_at, last_seen_at, details, muted_by,
                                    cause_problem_id, judged_as_of)
        SELECT rule, order_id, venue_id, city_id, severity, 'open', muted, since, %(now)s,
               %(now)s, details, muted_by,
               CASE WHEN muted_by IS NOT NULL THEN
                   {_cause("x.muted_by", "x.order_id", "x.venue_id")} END,
               as_of
        FROM jsonb_to_recordset(%(rows)s::jsonb) AS x(rule text, order_id text, venue_id bigint,
             city_id bigint, severity text, muted boolean, since timestamptz, details jsonb,
             muted_by text, as_of timestamptz)
        RETURNING problem_id, order_id, rule, severity, muted, muted_by
    ), logged AS (
        INSERT INTO problem_history (problem_id, at, change, actor, details)
        SELECT problem_id, %(now)s, 'opened', 'larder',
               jsonb_strip_nulls(jsonb_build_object('severity', severity, 'muted', muted,
                                                    'muted_by', muted_by))
        FROM opened
    )
    SELECT problem_id, order_id, rule FROM opened
"""

# `muted` is written only when this evaluation changed it, so a stale read of the venue's
# problems never undoes what the venue sweep just did.
SEE_PROBLEMS = f"""
    UPDATE order_problems p SET
        severity = x.severity,
        muted = CASE WHEN x.mute_changed THEN x.muted ELSE p.muted END,
        muted_by = CASE WHEN x.mute_changed THEN x.muted_by ELSE p.muted_by END,
        cause_problem_id = CASE
            WHEN NOT x.mute_changed THEN p.cause_problem_id
            WHEN x.muted_by IS NOT NULL THEN {_cause("x.muted_by", "p.order_id", "p.venue_id")}
        END,
        details = x.details,
        last_seen_at = %(now)s
    FROM jsonb_to_recordset(%(rows)s::jsonb)
        AS x(problem_id bigint, severity text, muted boolean, mute_changed boolean, details jsonb,
             muted_by text)
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
            version = p.version + 1,
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

SET_MUTED = f"""
    WITH changed AS (
        UPDATE order_problems p SET
            muted = %(muted)s,
            details = CASE WHEN %(muted)s THEN details || %(muted_by)s::jsonb
                           ELSE details - 'muted_by' END,
            muted_by = CASE WHEN %(muted)s THEN %(cause)s::text END,
            cause_problem_id = CASE WHEN %(muted)s THEN
                {_cause("%(cause)s::text", "p.order_id", "p.venue_id")} END
        WHERE ended_at IS NULL AND order_id IS NOT NULL AND rule = ANY(%(rules)s::text[])
          AND venue_id = ANY(%(venue_ids)s::bigint[]) AND muted <> %(muted)s
        RETURNING problem_id
    )
    INSERT INTO problem_history (problem_id, at, change, actor, details)
    SELECT problem_id, %(now)s, CASE WHEN %(muted)s THEN 'muted' ELSE 'unmuted' END, 'larder',
           jsonb_strip_nulls(jsonb_build_object('muted', %(muted)s::boolean,
                                                'muted_by', CASE WHEN %(muted)s THEN %(cause)s::text END))
    FROM changed
"""

PROBLEM_COLUMNS = """
    problem_id, rule, status, severity, muted, order_id, venue_id, city_id, since, opened_at,
    last_seen_at, ended_at, acknowledged_at, acknowledged_by, resolved_at, resolution,
    resolved_by, details, version, assigned_to, silenced_until, silenced_by,
    muted_by, cause_problem_id
"""

# ---------------------------------------------------------------- the support inbox (inbox.py)

# `state`: open (not resolved, not silenced at `now`; acknowledged or not), acknowledged (open
# and acknowledged), silenced (silenced past `now`), resolved; NULL for every record.
# `assignee` '' means records nobody is assigned to.
_INBOX_WHERE = """
    WHERE (%(state)s::text IS NULL
           OR (%(state)s IN ('open', 'acknowledged') AND status = 'open'
               AND (silenced_until IS NULL OR silenced_until <= %(now)s)
               AND (%(state)s = 'open' OR acknowledged_at IS NOT NULL))
           OR (%(state)s = 'silenced' AND status = 'open' AND silenced_until > %(now)s)
           OR (%(state)s = 'resolved' AND status = 'resolved'))
      AND (%(city_id)s::bigint IS NULL OR city_id = %(city_id)s)
      AND (%(rule)s::text IS NULL OR rule = %(rule)s)
      AND (%(assignee)s::text IS NULL OR coalesce(assigned_to, '') = %(assignee)s)
"""

INBOX = f"""
    SELECT {PROBLEM_COLUMNS} FROM order_problems {_INBOX_WHERE}
    ORDER BY opened_at DESC, problem_id DESC
    LIMIT %(limit)s
"""

# The console's order: critical first, then the oldest trouble first.
INBOX_BY_SEVERITY = f"""
    SELECT {PROBLEM_COLUMNS} FROM order_problems {_INBOX_WHERE}
    ORDER BY severity = 'critical' DESC, since, problem_id
    LIMIT %(limit)s
"""

# The records muted under these causes (the inbox attaches them to their cause's card).
PROBLEM_SYMPTOMS = f"""
    SELECT {PROBLEM_COLUMNS} FROM order_problems
    WHERE cause_problem_id = ANY(%(cause_ids)s::bigint[])
      AND (%(status)s::text IS NULL OR status = %(status)s)
    ORDER BY opened_at, problem_id
"""

PROBLEM_BY_ID = f"SELECT {PROBLEM_COLUMNS} FROM order_problems WHERE problem_id = %(problem_id)s"

PROBLEM_HISTORY = """
    SELECT at, change, actor, note, details FROM problem_history
    WHERE problem_id = %(problem_id)s ORDER BY id
"""

ORDER_STATE = "SELECT state::text FROM order_states WHERE order_id = %(order_id)s"

# Agents' actions: each applies only to the version the agent saw (optimistic concurrency) and
# to a record in a state it applies to; it bumps the version. No row back: stale or refused.
_ACTED = "RETURNING problem_id, rule, opened_at"
_AS_SEEN = "problem_id = %(problem_id)s AND version = %(version)s"

ACKNOWLEDGE_PROBLEM = f"""
    UPDATE order_problems SET acknowledged_at = %(now)s, acknowledged_by = %(agent)s,
        assigned_to = coalesce(assigned_to, %(agent)s), version = version + 1
    WHERE {_AS_SEEN} AND resolved_at IS NULL AND acknowledged_at IS NULL
    {_ACTED}
"""

ASSIGN_PROBLEM = f"""
    UPDATE order_problems SET assigned_to = %(assignee)s, version = version + 1
    WHERE {_AS_SEEN} AND resolved_at IS NULL
    {_ACTED}
"""

NOTE_PROBLEM = f"""
    UPDATE order_problems SET version = version + 1
    WHERE {_AS_SEEN}
    {_ACTED}
"""

SILENCE_PROBLEM = f"""
    UPDATE order_problems SET silenced_until = %(until)s, silenced_by = %(agent)s,
        version = version + 1
    WHERE {_AS_SEEN} AND resolved_at IS NULL
    {_ACTED}
"""

RESOLVE_PROBLEM = f"""
    UPDATE order_problems SET
        status = 'resolved', resolved_at = %(now)s, resolution = 'agent', resolved_by = %(agent)s,
        silenced_until = NULL, version = version + 1
    WHERE {_AS_SEEN} AND resolved_at IS NULL
    {_ACTED}
"""

LOG_AGENT_ACTION = """
    INSERT INTO problem_history (problem_id, at, change, actor, note, details)
    VALUES (%(problem_id)s, %(now)s, %(change)s, %(agent)s, %(note)s, %(details)s)
"""

# Silences that have run out on records still live (the checks still hold the trouble true):
# the record ends (resolution `silenced`, history `unsilenced`) and a new record of the same
# trouble opens (history `opened`, `after_silence_of`), keeping `since`; the sweep judges the
# order (venue) again at once. Rows are locked as the checks lock them: orders, then venues,
# each in id order, then the records (no deadlock with event batches or sweeps, and a batch
# that waited for these orders reads the new record).
EXPIRED_SILENCES = """
    SELECT problem_id, order_id, venue_id FROM order_problems
    WHERE silenced_until <= %(now)s AND ended_at IS NULL
    ORDER BY problem_id
    LIMIT %(limit)s
"""

LOCK_ORDER_ROWS = """
    SELECT order_id FROM order_states WHERE order_id = ANY(%(order_ids)s::text[])
    ORDER BY order_id
    FOR UPDATE
"""

LOCK_VENUE_ROWS = """
    SELECT venue_id FROM venue_checks WHERE venue_id = ANY(%(venue_ids)s::bigint[])
    ORDER BY venue_id
    FOR UPDATE
"""

END_SILENCES = """
    WITH ended AS (
        UPDATE order_problems SET
            ended_at = %(now)s, status = 'resolved', resolved_at = coalesce(resolved_at, %(now)s),
            resolution = coalesce(resolution, 'silenced'), version = version + 1
        WHERE problem_id = ANY(%(problem_ids)s::bigint[])
          AND silenced_until <= %(now)s AND ended_at IS NULL
        RETURNING problem_id, silenced_until
    )
    INSERT INTO problem_history (problem_id, at, change, actor, details)
    SELECT problem_id, %(now)s, 'unsilenced', 'larder',
           jsonb_build_object('silenced_until', silenced_until)
    FROM ended
    RETURNING problem_id
"""

REOPEN_SILENCED = """
    WITH opened AS (
        INSERT INTO order_problems (rule, order_id, venue_id, city_id, severity, status, muted,
                                    muted_by, cause_problem_id, since, opened_at, last_seen_at,
                                    judged_as_of, details)
        SELECT rule, order_id, venue_id, city_id, severity, 'open', muted, muted_by,
               cause_problem_id, since, %(now)s, %(now)s, %(now)s,
               details || jsonb_build_object('after_silence_of', problem_id)
        FROM order_problems
        WHERE problem_id = ANY(%(problem_ids)s::bigint[])
        ORDER BY problem_id
        RETURNING problem_id, severity, muted, details
    )
    INSERT INTO problem_history (problem_id, at, change, actor, details)
    SELECT problem_id, %(now)s, 'opened', 'larder',
           jsonb_build_object('severity', severity, 'muted', muted,
                              'after_silence_of', details->'after_silence_of')
    FROM opened
"""

ORDERS_DUE_NOW = """
    UPDATE order_states SET next_due_at = least(coalesce(next_due_at, %(now)s), %(now)s)
    WHERE order_id = ANY(%(order_ids)s::text[])
"""

VENUES_DUE_NOW = """
    UPDATE venue_checks SET next_due_at = least(coalesce(next_due_at, %(now)s), %(now)s)
    WHERE venue_id = ANY(%(venue_ids)s::bigint[])
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
    SELECT rule, order_id, venue_id, since, opened_at, problem_id, judged_as_of
    FROM order_problems
    WHERE order_id LIKE %(orders)s
       OR (order_id IS NULL AND venue_id BETWEEN %(low)s AND %(high)s)
"""

# ... and their history: when each was muted or loud (the cards an order had at once).
SIMULATED_PROBLEM_HISTORY = """
    SELECT h.problem_id, h.at, h.change, (h.details->>'muted')::boolean,
           h.details->>'muted_by'
    FROM problem_history h JOIN order_problems p USING (problem_id)
    WHERE p.order_id LIKE %(orders)s
       OR (p.order_id IS NULL AND p.venue_id BETWEEN %(low)s AND %(high)s)
    ORDER BY h.id
"""
