"""Dead letters: messages rejected without retry, recorded with their reason."""

from __future__ import annotations

RECORD_REJECTION = """
    INSERT INTO rejected_messages
        (fingerprint, message_id, queue_name, actor_name, reason, raw_body)
    VALUES (%(fingerprint)s, %(message_id)s, %(queue_name)s, %(actor_name)s, %(reason)s,
            %(raw_body)s)
    ON CONFLICT (fingerprint) DO NOTHING
"""

RECENT_REJECTIONS = """
    SELECT id, message_id, queue_name, actor_name, reason, raw_body, rejected_at
    FROM rejected_messages ORDER BY rejected_at DESC, id DESC LIMIT %(limit)s
"""

# Retention: rejected bodies hold personal data; they go once RabbitMQ's dead-letter copy has.
PRUNE_REJECTIONS = """
    DELETE FROM rejected_messages WHERE id IN (
        SELECT id FROM rejected_messages
        WHERE rejected_at < now() - make_interval(days => %(days)s)
        LIMIT %(chunk)s
    )
"""
