"""Result rows as read back from Postgres."""

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


class RecommendationList(BaseModel):
    """One precomputed list as read: ids best first, with scores; `fallback` when it is the
    city's (or venue's) popular list because the user's own is missing or stale."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: int
    surface: str
    context: int
    ids: list[int]
    scores: list[float]
    model_version: str
    computed_at: datetime
    fallback: bool
