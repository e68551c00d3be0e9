"""The recommendation lists: the refresh job and a list as read."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.base import Id, SchemaVersion, StrictModel, Timestamp

MAX_USERS_PER_JOB = 1000


class RefreshLists(StrictModel):
    """Recompute every precomputed list (discovery, category, items) of these users with the
    active model (actor `refresh_lists`, queue `recs`). `run_id` and `chunk` tie the job to a
    tracked batch refresh (`larder recs refresh`); event-driven and scheduled jobs leave them out."""

    schema_version: SchemaVersion
    user_ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_USERS_PER_JOB)]
    run_id: Id | None = None
    chunk: Annotated[int, Field(ge=0)] | None = None
    # the oldest change mark of these users (event-driven jobs): the recompute lag's start
    changed_at: Timestamp | None = None


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
    # banners: per id, the probability the policy had of serving it in that slot (log it with
    # the impression: `activity.propensity`); None on the other surfaces
    propensities: list[float] | None = None
