"""Dead-lettered messages as read back from Postgres (`larder dlq`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class RejectedMessage(BaseModel):
    """A dead-lettered message: never retried, recorded with why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: int
    message_id: str | None
    queue_name: str
    actor_name: str | None
    reason: str
    raw_body: str
    rejected_at: datetime
