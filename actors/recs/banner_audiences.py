"""A banner that goes live reaches its audience within a minute.

Banner orderings are precomputed from the banners live at the time, so a banner whose flight
starts later, one created or changed in flight, or one whose pause runs out is in nobody's
ordering until each user's next re-rank: for a user who opens the app, a minute after their
first impressions (a session's banner activity coalesces into one re-rank); for the others,
the daily refresh. The `recs.banner_audiences` duty closes that gap: every minute it marks the
users of the cities of every banner that went live since its last run (each user once; one
already waiting for a refresh is not marked again), and `recs.sweep_changed_users` refreshes
them. A city of 100,000 users costs one re-rank each (tens of seconds of one refresh process).

The duty remembers the end of its last window in memory; a scheduler that takes the duty over
(its leader died) starts two periods back, so no banner falls between two leaders (a few
users may be re-ranked twice: harmless, refreshes are idempotent)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from store.recs import personal
from workers.broker import database
from workers.scheduling import periodic

EVERY_S = 60.0
_since: datetime | None = None


@periodic("recs.banner_audiences", every_s=EVERY_S, unit="users marked for a banner re-rank")
def mark_banner_audiences(now: datetime | None = None) -> int:
    """Mark the audiences of the banners that went live since the last run; returns how many
    users were marked."""
    global _since
    until = now or datetime.now(UTC)
    since = _since or until - timedelta(seconds=2 * EVERY_S)
    with database.unit_of_work(single_statement=True) as uow:
        marked = personal.mark_banner_audiences(uow.connection, since, until)
    _since = until
    return marked
