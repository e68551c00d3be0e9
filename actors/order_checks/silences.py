"""The support console's silences: when one runs out with its trouble still there, the record
ends and a new card of the same trouble opens (store.order_checks.inbox.expire_silences)."""

from __future__ import annotations

from store.order_checks import inbox
from workers import clock
from workers.broker import database
from workers.scheduling import periodic


@periodic("order_checks.silences", every_s=1.0, unit="silenced records ended")
def expire_silences(limit: int = 1000) -> int:
    """End records whose silence ran out while their trouble lasts, each with a new card."""
    with database.unit_of_work() as uow:
        return inbox.expire_silences(uow.connection, clock.now(), limit)
