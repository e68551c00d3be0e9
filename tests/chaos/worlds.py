"""Event files for the fault tests: a synthetic world (intake) and order lifecycles (checks),
with what applying each exactly once must leave in Postgres."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from synthetic.order_checks import SimulationConfig, simulate
from synthetic.world import WorldConfig, generate


@dataclass(frozen=True)
class EventFile:
    path: Path
    events: list[dict[str, Any]]
    delivered_at: list[datetime] | None = None  # lifecycles: when each reaches the broker

    @property
    def count(self) -> int:
        return len(self.events)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    def types(self) -> Counter[str]:
        return Counter(e["type"] for e in self.events)


def write(
    path: Path, events: list[dict[str, Any]], delivered_at: list[datetime] | None = None
) -> EventFile:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return EventFile(path, events, delivered_at)


def world(path: Path, users: int = 600, seed: int = 3, days: int = 14) -> EventFile:
    """A world whose history ends now (to the minute)."""
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    config = WorldConfig(cities=2, venues=40, users=users, days=days, seed=seed, end=end)
    return write(path, list(generate(config)))


def lifecycles(path: Path, orders: int = 400, seed: int = 5, clean: bool = True) -> EventFile:
    """Order lifecycles of the last hour, in delivery order (without the simulator's own
    duplicates and late deliveries when `clean`)."""
    config = SimulationConfig(
        orders=orders,
        seed=seed,
        run=f"chaos{seed}",
        duplicate_rate=0.0 if clean else 0.03,
        late_rate=0.0 if clean else 0.05,
    )
    start = datetime.now(UTC) - timedelta(hours=2)
    simulation = simulate(config, start)
    deliveries = simulation.deliveries
    return write(path, [d.event for d in deliveries], [d.at for d in deliveries])
