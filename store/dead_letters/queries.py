"""Dead letters: messages rejected without retry, recorded with their reason."""

from __future__ import annotations

# The same rejection recorded twice (a redelivered nack) is one row; a message rejected
# again after a replay gets its new reason and time.
RECORD_REJECTION = """
    INSERT INTO rejected_messages
        (fingerprint, message_id, queue_name, actor_name, reason, raw_body)
    VALUES (%(fingerprint)s, %(message_id)s, %(queue_name)s, %(actor_name)s, %(reason)s,
            %(raw_body)s)
    ON CONFLICT (fingerprint) DO UPDATE
        SET reason = EXCLUDED.reason, rejected_at = now(), replayed_at = NULL, purged_at = NULL,
            raw_body = EXCLUDED.raw_body
        WHERE rejected_messages.replayed_at IS NOT NULL
"""

COLUMNS = """id, fingerprint, message_id, queue_name, actor_name, reason, raw_body, rejected_at,
    replays, replayed_at, purged_at"""

RECENT_REJECTIONS = f"""
    SELECT {COLUMNS}
    FROM rejected_messages ORDER BY rejected_at DESC, id DESC LIMIT %(limit)s
"""

# `larder dlq list|replay|purge --queue --reason --since`: empty queues mean every queue.
MATCHING_REJECTIONS = f"""
    SELECT {COLUMNS}
    FROM rejected_messages
    WHERE (cardinality(%(queues)s::text[]) = 0 OR queue_name = ANY(%(queues)s::text[]))
      AND rejected_at >= %(since)s
      AND reason ILIKE %(reason)s
    ORDER BY rejected_at DESC, id DESC LIMIT %(limit)s
"""

REJECTIONS_BY_FINGERPRINT = f"""
    SELECT {COLUMNS} FROM rejected_messages WHERE fingerprint = ANY(%(fingerprints)s::text[])
"""

REJECTION = f"""
    SELECT {COLUMNS} FROM rejected_messages
    WHERE id = %(id)s OR message_id = %(message_id)s
    ORDER BY rejected_at DESC LIMIT 1
"""

MARK_REPLAYED = """
    UPDATE rejected_messages SET replayed_at = now(), replays = replays + 1
    WHERE fingerprint = %(fingerprint)s
"""

MARK_PURGED = """
    UPDATE rejected_messages SET purged_at = now() WHERE fingerprint = %(fingerprint)s
"""

# Retention: rejected bodies hold personal data; they go once RabbitMQ's dead-letter copy has.
PRUNE_REJECTIONS = """
    DELETE FROM rejected_messages WHERE id IN (
        SELECT id FROM rejected_messages
        WHERE rejected_at < now() - make_interval(days => %(days)s)
        LIMIT %(chunk)s
    )
"""
