"""What operations read from the database: scrape-time gauges (workers/fleet_metrics.py)."""

from __future__ import annotations

# Users whose inputs changed and whose refresh has not been claimed yet.
WAITING_CHANGES = """
    SELECT count(*), coalesce(extract(epoch FROM now() - min(due_at)), 0)
    FROM user_changes WHERE due_at <= now()
"""

# Tracked refreshes of the last day, counted from their chunks (as RUN_STATUS does).
RECENT_RUNS = """
    SELECT r.run_id, r.total_chunks,
           count(c.done_at) AS done_chunks,
           count(*) FILTER (WHERE c.done_at IS NULL AND EXISTS (
               SELECT 1 FROM rejected_messages m WHERE m.message_id = c.message_id))
               AS failed_chunks
    FROM refresh_runs r LEFT JOIN refresh_run_chunks c USING (run_id)
    WHERE r.created_at > now() - interval '1 day'
    GROUP BY r.run_id
"""

ACTIVE_MODELS = """
    SELECT kind, version, extract(epoch FROM now() - created_at) FROM model_versions WHERE active
"""

REJECTIONS_BY_QUEUE = """
    SELECT queue_name, count(*) FROM rejected_messages GROUP BY queue_name
"""
