"""Rule thresholds per city and the rules file that sets them (pure, apart from reading it).

Layers: built-in defaults, then the file's `[defaults]`, then `[cities.<city_id>]`; any key
may be omitted. Durations are in minutes, distances in metres. Example (TOML; JSON with the
same shape works too):

    [defaults.venue_not_accepting]
    minutes = 5

    [cities.7.running_late]          # city 7: omitted keys keep the defaults
    minutes = 15

    [cities.7.running_late.stage_minutes]
    travel = 20
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Minutes = Annotated[float, Field(ge=0, le=24 * 60)]
Count = Annotated[int, Field(ge=1, le=10_000)]


class _Section(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class VenueNotAcceptingThresholds(_Section):
    minutes: Minutes = 5  # after payment (or creation, for pay-on-delivery) with no acceptance


class PaymentPendingThresholds(_Section):
    minutes: Minutes = 5  # after creation with no payment.authorized


class NoCourierThresholds(_Section):
    lead_minutes: Minutes = 5  # fires this long before the (estimated) ready time


class StuckAtVenueThresholds(_Section):
    minutes: Minutes = 10  # after the courier's arrival with no pickup


class CourierStuckThresholds(_Section):
    minutes: Minutes = 5
    radius_m: Annotated[float, Field(gt=0, le=100_000)] = 50
    clear_radius_m: Annotated[float, Field(gt=0, le=100_000)] = 100

    @model_validator(mode="after")
    def _band(self) -> CourierStuckThresholds:
        if self.clear_radius_m < self.radius_m:
            raise ValueError("clear_radius_m must be at least radius_m")
        return self


class StageMinutes(_Section):
    """Typical stage durations running_late assumes when a stage has no better estimate."""

    payment: Minutes = 1  # creation -> payment.authorized
    accept: Minutes = 3  # paid -> venue.accepted
    prepare: Minutes = 15  # accepted -> ready, when the venue gave no estimated_ready_at
    courier_assign: Minutes = 3  # now -> courier.assigned, for an order with no courier
    courier_to_venue: Minutes = 8  # courier.assigned -> courier.arrived_at_venue
    handover: Minutes = 2  # ready and courier there -> order.picked_up
    travel: Minutes = 15  # order.picked_up -> order.delivered


class RunningLateThresholds(_Section):
    minutes: Minutes = 10  # predicted delivery this much after the promise fires
    clear_minutes: Minutes = 5  # an open problem resolves below this
    critical_minutes: Minutes = 20
    stage_minutes: StageMinutes = StageMinutes()

    @model_validator(mode="after")
    def _band(self) -> RunningLateThresholds:
        if not self.clear_minutes <= self.minutes <= self.critical_minutes:
            raise ValueError("need clear_minutes <= minutes <= critical_minutes")
        return self


class ItemsUnavailableThresholds(_Section):
    minutes: Minutes = 5  # after item.unavailable with no substitution


class VenueStrugglingThresholds(_Section):
    failures: Count = 3  # rejected or venue-cancelled orders among the last `window`
    window: Count = 10
    hold_failures: Count = 2
    open_orders: Count = 3  # orders open on venue_not_accepting at once
    hold_open_orders: Count = 1
    max_age_minutes: Minutes = 180  # outcomes older than this do not count

    @model_validator(mode="after")
    def _band(self) -> VenueStrugglingThresholds:
        if not self.hold_failures <= self.failures <= self.window:
            raise ValueError("need hold_failures <= failures <= window")
        if self.hold_open_orders > self.open_orders:
            raise ValueError("need hold_open_orders <= open_orders")
        return self


class Thresholds(_Section):
    """Every rule's thresholds for one city (built-in defaults, then file defaults, then city)."""

    # Methods with no authorization step: the order counts as paid when created.
    pay_on_delivery_methods: Annotated[tuple[str, ...], Field(strict=False)] = ("cash",)
    venue_not_accepting: VenueNotAcceptingThresholds = VenueNotAcceptingThresholds()
    payment_pending: PaymentPendingThresholds = PaymentPendingThresholds()
    no_courier: NoCourierThresholds = NoCourierThresholds()
    stuck_at_venue: StuckAtVenueThresholds = StuckAtVenueThresholds()
    courier_stuck: CourierStuckThresholds = CourierStuckThresholds()
    running_late: RunningLateThresholds = RunningLateThresholds()
    items_unavailable: ItemsUnavailableThresholds = ItemsUnavailableThresholds()
    venue_struggling: VenueStrugglingThresholds = VenueStrugglingThresholds()


@dataclass(frozen=True)
class RulesConfig:
    defaults: Thresholds = field(default_factory=Thresholds)
    cities: Mapping[int, Thresholds] = field(default_factory=dict)

    def for_city(self, city_id: int | None) -> Thresholds:
        return self.cities.get(city_id, self.defaults) if city_id is not None else self.defaults


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the file, key and line if known."""


def load_rules(path: Path | str) -> RulesConfig:
    """Read a rules file (.json, else TOML; layout in the module docstring)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RulesError(f"{path}: cannot read: {error.strerror}") from None
    if path.suffix.lower() == ".json":
        return parse_rules(text, "json", source=str(path))
    return parse_rules(text, "toml", source=str(path))


def parse_rules(
    text: str, kind: Literal["toml", "json"] = "toml", source: str = "rules"
) -> RulesConfig:
    """Thresholds from a rules file's text; `source` prefixes every error message."""
    data = _decode(text, kind, source)
    unknown = sorted(set(data) - {"defaults", "cities"})
    if unknown:
        raise RulesError(f"{source}: {unknown[0]}: unknown section (expected defaults, cities)")
    defaults = _thresholds(Thresholds(), data.get("defaults", {}), ("defaults",), text, source)
    cities = data.get("cities", {})
    if not isinstance(cities, dict):
        raise RulesError(f"{source}: cities: expected a table of city ids")
    return RulesConfig(defaults, _cities(defaults, cities, text, source))


def _decode(text: str, kind: str, source: str) -> dict[str, Any]:
    try:
        data = json.loads(text) if kind == "json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise RulesError(f"{source}: not valid {kind.upper()}: {error}") from None
    if not isinstance(data, dict):
        raise RulesError(f"{source}: expected an object at the top level")
    return data


def _cities(
    base: Thresholds, cities: dict[str, Any], text: str, source: str
) -> dict[int, Thresholds]:
    parsed = {}
    for key, override in cities.items():
        if not (key.isascii() and key.isdigit()) or int(key) < 1:
            raise RulesError(f"{source}: cities.{key}: city keys must be positive city ids")
        parsed[int(key)] = _thresholds(base, override, ("cities", key), text, source)
    return parsed


def _thresholds(
    base: Thresholds, override: Any, where: tuple[str, ...], text: str, source: str
) -> Thresholds:
    if not isinstance(override, dict):
        raise RulesError(f"{source}: {'.'.join(where)}: expected a table")
    try:
        return Thresholds.model_validate(_merge(base.model_dump(), override))
    except ValidationError as error:
        raise RulesError(_describe(error, where, text, source)) from None


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        inner = merged.get(key)
        if isinstance(inner, dict) and isinstance(value, dict):
            value = _merge(inner, value)
        merged[key] = value
    return merged


def _describe(error: ValidationError, where: tuple[str, ...], text: str, source: str) -> str:
    first = error.errors()[0]
    path = (*where, *(str(part) for part in first["loc"]))
    line = _line_of(text, path)
    at = f" (line {line})" if line else ""
    return f"{source}: {'.'.join(path)}: {first['msg']}{at}"


def _line_of(text: str, path: tuple[str, ...]) -> int | None:
    """Best effort: the TOML line that sets `path` (as `key =` under its [table], or a table)."""
    table: tuple[str, ...] = ()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            table = tuple(part.strip().strip("\"'") for part in line.strip("[]").split("."))
            if table == path:
                return number
        elif table == path[:-1] and line.split("=", 1)[0].strip().strip("\"'") == path[-1]:
            return number
    return None
