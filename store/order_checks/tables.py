"""Tables of the order-problem checks: the projection, problem records, venue checks, watermarks."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSON, JSONB

from store.metadata import metadata

# The projection of each order's lifecycle events (domain.order_checks.projection, `state` as
# dump_state JSON), and its timer: `next_due_at` is when the rules must look again with no new
# event; the sweep claims due rows through the partial index, so its cost follows due timers,
# not live orders. `state` is NULL only inside the transaction that creates the row.
order_states = Table(
    "order_states",
    metadata,
    Column("order_id", Text, primary_key=True),
    Column("state", JSON),  # json, not jsonb: never queried inside; 3x cheaper to write/read
    Column("version", BigInteger, nullable=False, server_default="0"),  # +1 per write
    Column("last_sequence", BigInteger, nullable=False, server_default="-1"),
    Column("venue_id", BigInteger),
    Column("city_id", BigInteger),
    Column("known", Boolean, nullable=False, server_default="false"),  # order.created arrived
    Column("terminal", Boolean, nullable=False, server_default="false"),
    Column("next_due_at", DateTime(timezone=True)),
    # The latest instant the order was judged at: judgements of one order never go back in
    # time (a batch taken late judges at its own time, a sweep at the watermark or now).
    Column("judged_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index(None, "next_due_at", postgresql_where=text("next_due_at IS NOT NULL")),
)

# Problem records. An episode lasts from the rule firing until its condition clears (or the
# order finishes): `ended_at` is NULL while it lasts, and at most one episode per identity --
# (order, rule) or, for venue rules, (venue, rule) -- lasts at a time (partial unique indexes).
# An agent resolving a record closes it for the inbox (`resolved_at`); the episode goes on
# until the condition clears, so a problem an agent dealt with is not opened again at once.
order_problems = Table(
    "order_problems",
    metadata,
    Column("problem_id", BigInteger, primary_key=True, autoincrement=True),
    Column("rule", Text, nullable=False),
    Column("order_id", Text),  # NULL for venue-level rules
    Column("venue_id", BigInteger),
    Column("city_id", BigInteger),
    Column("severity", Text, nullable=False),
    Column("status", Text, nullable=False),  # open | resolved
    Column("muted", Boolean, nullable=False, server_default="false"),
    Column("since", DateTime(timezone=True), nullable=False),  # the condition became true
    Column("opened_at", DateTime(timezone=True), nullable=False),  # detected
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("resolved_at", DateTime(timezone=True)),
    Column("resolution", Text),  # condition_cleared | order_finished | agent
    Column("resolved_by", Text),
    Column("acknowledged_at", DateTime(timezone=True)),
    Column("acknowledged_by", Text),
    Column("details", JSONB, nullable=False),
    # The support console's actions (store/order_checks/inbox.py): every agent action bumps
    # `version` and names the version it saw (a stale one is refused: never a lost update);
    # ending an episode bumps it too. A silence hides the record until `silenced_until`; if
    # its episode lasts past it, the silence duty ends it and opens a new record of it.
    Column("version", BigInteger, nullable=False, server_default="1"),
    Column("assigned_to", Text),
    Column("silenced_until", DateTime(timezone=True)),
    Column("silenced_by", Text),
    # While muted: the open cause muting it (a rule of the same order, or a venue rule of its
    # venue; `Rule.mutes`) and that cause's record: the inbox shows it under its cause.
    Column("muted_by", Text),
    Column(
        "cause_problem_id",
        BigInteger,
        ForeignKey("order_problems.problem_id", ondelete="SET NULL"),
    ),
    # The instant the rules found it at: now, or behind now when the workers were behind
    # (opened_at - judged_as_of is the backlog's age, judged_as_of - since the rule's own lag).
    Column("judged_as_of", DateTime(timezone=True)),
    Index(
        "uq_order_problems_live_order",
        "order_id",
        "rule",
        unique=True,
        postgresql_where=text("ended_at IS NULL AND order_id IS NOT NULL"),
    ),
    Index(
        "uq_order_problems_live_venue",
        "venue_id",
        "rule",
        unique=True,
        postgresql_where=text("ended_at IS NULL AND order_id IS NULL"),
    ),
    Index("ix_order_problems_live_venue_id", "venue_id", postgresql_where=text("ended_at IS NULL")),
    Index(None, "status", "opened_at"),
    Index(
        "ix_order_problems_silenced_until",
        "silenced_until",
        postgresql_where=text("silenced_until IS NOT NULL AND ended_at IS NULL"),
    ),
    Index(None, "cause_problem_id", postgresql_where=text("cause_problem_id IS NOT NULL")),
)

# Every change of a problem record: opened, severity, muted, unmuted, acknowledged, assigned,
# noted, silenced, unsilenced, resolved, ended (auto-resolution or the end of an episode an
# agent had resolved).
problem_history = Table(
    "problem_history",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column(
        "problem_id",
        BigInteger,
        ForeignKey("order_problems.problem_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("change", Text, nullable=False),
    Column("actor", Text, nullable=False),  # an agent's name, or "larder"
    Column("note", Text),
    Column("details", JSONB),
    Index(None, "problem_id", "id"),
)

# The venue's decision on each order (domain.order_checks.rules.venue_outcome): venue_struggling's input.
venue_outcomes = Table(
    "venue_outcomes",
    metadata,
    Column("order_id", Text, primary_key=True),
    Column("venue_id", BigInteger, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("failed", Boolean, nullable=False),
    Index(None, "venue_id", "at"),
)

# One row per venue seen: the lock that serialises its venue-level checks, and their timer.
venue_checks = Table(
    "venue_checks",
    metadata,
    Column("venue_id", BigInteger, primary_key=True, autoincrement=False),
    Column("city_id", BigInteger),
    Column("next_due_at", DateTime(timezone=True)),
    Column("checked_at", DateTime(timezone=True)),
    Index(None, "next_due_at", postgresql_where=text("next_due_at IS NOT NULL")),
)

# Venues whose venue-level checks must run again (an outcome changed, an order's
# venue_not_accepting problem opened or ended). Append-only, so order transactions never wait on
# each other for a venue; the venue sweep claims entries with SKIP LOCKED.
venue_changes = Table(
    "venue_changes",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("venue_id", BigInteger, nullable=False),
    Column("city_id", BigInteger),
)

# Per worker process, its watermark (the oldest event of the lifecycle messages it holds, else
# the newest it applied; actors/inflight.py) and when it wrote it, on the checks' clock. The
# oldest watermark of the busy processes is the fleet's low-water mark: what the sweeps and
# batches judge at while the workers are busy, instead of now (store/order_checks.py).
checks_watermarks = Table(
    "checks_watermarks",
    metadata,
    Column("worker", Text, primary_key=True),  # host:pid
    Column("low_water_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
