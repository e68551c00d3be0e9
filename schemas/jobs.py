"""Jobs: messages that ask the fleet to compute something."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from schemas.base import Id, SchemaVersion, StrictModel

MAX_USERS_PER_JOB = 1000


class RefreshItems(StrictModel):
    """Recompute the `items` lists of these users with the active model (actor refresh_items,
    queue `recs`)."""

    schema_version: SchemaVersion
    user_ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_USERS_PER_JOB)]
