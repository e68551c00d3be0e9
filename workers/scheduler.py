"""`larder scheduler`: the periodic duties (Procfile `scheduler`). Safe to run several."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("larder.scheduler")


@dataclass
class Duty:
    name: str
    every_s: float
    run: Callable[[], object]
    due: float = 0.0


def duties(sweep_every_s: float) -> list[Duty]:
    from actors.maintenance import DEFAULT_RETENTION_DAYS, prune
    from actors.recs import refresh_stale_lists, sweep_changed_users
    from actors.training import train_if_stale

    return [
        Duty("sweep changed users", sweep_every_s, sweep_changed_users),
        Duty("refresh stale lists", 600.0, refresh_stale_lists),
        Duty("retrain a stale model", 600.0, train_if_stale),
        Duty("prune idempotency records", 3600.0, lambda: prune(DEFAULT_RETENTION_DAYS)),
    ]


def run(plan: list[Duty], once: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
    """Run each duty when due; a failing duty is logged and tried again next time."""
    while True:
        now = clock()
        for duty in plan:
            if now >= duty.due:
                duty.due = now + duty.every_s
                try:
                    duty.run()
                except Exception:
                    log.exception("scheduled duty failed: %s", duty.name)
        if once:
            return
        time.sleep(max(0.05, min(d.due for d in plan) - clock()))
