"""JSON Schema export of every message type, for producers in any language."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from schemas import intake, order_checks
from schemas.dead_letters import RejectedMessage
from schemas.envelope import DramatiqEnvelope
from schemas.recs import RecommendationList, RefreshLists

JSON_DIR = Path(__file__).resolve().parent / "json"

EVENT_TYPES = (
    intake.CityUpserted,
    intake.BrandUpserted,
    intake.CategoryUpserted,
    intake.VenueUpserted,
    intake.ItemUpserted,
    intake.BannerUpserted,
    intake.UserUpserted,
    intake.OrderCompleted,
    intake.ActivityEvent,
)

EXPORTED: dict[str, Any] = {
    "dramatiq-envelope": DramatiqEnvelope,
    "intake-message": intake.IntakeMessage,
    "intake-batch": intake.Batch,
    **{intake.type_of(model): model for model in EVENT_TYPES},
    "order-lifecycle-event": order_checks.LifecycleEvent,
    "order-checks-message": order_checks.OrderChecksMessage,
    **{intake.type_of(model): model for model in order_checks.LIFECYCLE_TYPES},
    "refresh-lists-job": RefreshLists,
    "rejected-message": RejectedMessage,
    "recommendation-list": RecommendationList,
}


def render(target: Any) -> str:
    schema = TypeAdapter(target).json_schema(mode="validation")
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def export(directory: Path = JSON_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, target in EXPORTED.items():
        path = directory / f"{name}.schema.json"
        path.write_text(render(target), encoding="utf-8")
        written.append(path)
    return written


def stale(directory: Path = JSON_DIR) -> list[str]:
    """Names whose committed schema file differs from what the models produce now."""
    outdated = []
    for name, target in EXPORTED.items():
        path = directory / f"{name}.schema.json"
        if not path.exists() or path.read_text(encoding="utf-8") != render(target):
            outdated.append(name)
    return outdated
