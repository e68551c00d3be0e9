"""Jobs: messages that ask the fleet to compute something."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from schemas.base import Id, SchemaVersion, StrictModel

MAX_USERS_PER_JOB = 1000


class RefreshLists(StrictModel):
    """Recompute every precomputed list (discovery, category, items) of these users with the
    active model (actor `refresh_lists`, queue `recs`). `run_id` and `chunk` tie the job to a
    tracked batch refresh (`larder refresh`); event-driven and scheduled jobs leave them out."""

    schema_version: SchemaVersion
    user_ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_USERS_PER_JOB)]
    run_id: Id | None = None
    chunk: Annotated[int, Field(ge=0)] | None = None
