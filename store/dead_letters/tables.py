"""Dead-lettered messages (`larder dlq`, DeadLetters middleware)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    Table,
    Text,
    func,
)

from store.metadata import metadata

rejected_messages = Table(
    "rejected_messages",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("fingerprint", Text, nullable=False, unique=True),
    Column("message_id", Text),
    Column("queue_name", Text, nullable=False),
    Column("actor_name", Text),
    Column("reason", Text, nullable=False),
    Column("raw_body", Text, nullable=False),
    Column("rejected_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # `larder dlq replay`: how often, and when last (cleared when it is dead-lettered again)
    Column("replays", Integer, nullable=False, server_default="0"),
    Column("replayed_at", DateTime(timezone=True)),
    Column("purged_at", DateTime(timezone=True)),  # `larder dlq purge`
    Index(None, "rejected_at"),
)

Index("ix_rejected_messages_message_id", rejected_messages.c.message_id)
