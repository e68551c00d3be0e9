"""Problem records as support agents see them (`larder inbox`, `GET /v1/inbox`), and what an
agent sends to act on one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, computed_field

from schemas.base import StrictModel

Status = Literal["open", "resolved"]
Resolution = Literal["condition_cleared", "order_finished", "agent"]


class ProblemChange(BaseModel):
    """One entry of a record's history."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: datetime
    change: str = Field(
        description="opened, severity, muted, unmuted, acknowledged, resolved, or ended (the "
        "condition cleared after an agent had resolved the record)."
    )
    actor: str = Field(description="The agent's name, or `larder` for the checks.")
    note: str | None = None
    details: dict[str, Any] | None = None


class Problem(BaseModel):
    """One problem record: a rule that fired for an order (or, for venue rules, a venue)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    problem_id: int
    rule: str
    status: Status
    severity: Literal["warning", "critical"]
    muted: bool = Field(description="Inhibited by a venue-level problem (details.muted_by).")
    order_id: str | None = Field(description="None for venue-level rules.")
    venue_id: int | None
    city_id: int | None
    since: datetime = Field(description="When the condition became true.")
    opened_at: datetime = Field(description="When the checks detected it.")
    last_seen_at: datetime
    ended_at: datetime | None = Field(
        description="When the condition cleared or the order finished (None while it lasts)."
    )
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolution: Resolution | None
    resolved_by: str | None
    details: dict[str, Any] = Field(
        description="What is wrong and by how much, and the order's last events."
    )
    history: list[ProblemChange] | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def detection_lag_s(self) -> float:
        return (self.opened_at - self.since).total_seconds()


AgentName = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00\n\r]+$")
]
Note = Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")]


class AgentAction(StrictModel):
    """An agent acknowledging or resolving a record."""

    agent: AgentName
    note: Note | None = None
