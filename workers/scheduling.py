"""`larder scheduler`: the periodic duties (Procfile `scheduler`). Safe to run several."""

from __future__ import annotations

import logging
import threading
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


def duties(sweep_every_s: float, checks_every_s: float = 0.25) -> list[Duty]:
    from actors.maintenance import DEFAULT_RETENTION_DAYS, prune
    from actors.order_checks import prune_finished_orders, sweep_order_checks
    from actors.recs import refresh_stale_lists, sweep_changed_users
    from actors.recs.training import train_if_stale

    return [
        Duty("sweep changed users", sweep_every_s, sweep_changed_users),
        Duty("order checks: due timers, changed venues", checks_every_s, sweep_order_checks),
        Duty("refresh stale lists", 600.0, refresh_stale_lists),
        Duty("retrain a stale model", 600.0, train_if_stale),
        Duty("prune idempotency records", 3600.0, lambda: prune(DEFAULT_RETENTION_DAYS)),
        Duty("prune finished orders", 3600.0, prune_finished_orders),
    ]


def run_lanes(plan: list[Duty], fast_s: float = 1.0) -> None:
    """Run the plan forever; duties due more often than every `fast_s` run in a thread of
    their own, so a slow duty (a prune of a big table) never delays them."""
    fast = [duty for duty in plan if duty.every_s < fast_s]
    slow = [duty for duty in plan if duty.every_s >= fast_s]
    if fast and slow:
        threading.Thread(target=run, args=(fast,), name="fast duties", daemon=True).start()
    run(slow or fast)


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
