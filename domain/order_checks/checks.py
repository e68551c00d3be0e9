"""What one evaluation of the rules changes in the problem records (pure, no I/O).

A problem record follows an *episode* of one rule on one subject (an order, or a venue for
venue-level rules): it opens when the rule fires, stays while the verdict holds (hysteresis,
`still_open`), and ends when it does not -- "order_finished" when the order reached a terminal
stage, "condition_cleared" otherwise. The first `since` of an episode is kept. An agent may
resolve the record earlier; the episode still lasts until the condition clears, so the same
trouble is not reported again while it goes on (`LiveProblem.resolved`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from domain.order_checks.projection import Fact, OrderState, as_of, event_times
from domain.order_checks.rules import (
    ORDER_CAUSES,
    ORDER_RULES,
    VENUE_INHIBITS,
    RulesConfig,
    VenueActivity,
    Verdict,
    evaluate,
    evaluate_venue,
    inhibit,
    next_check,
    still_open,
)
from domain.order_checks.thresholds import Thresholds

CONDITION_CLEARED = "condition_cleared"
ORDER_FINISHED = "order_finished"
BY_AGENT = "agent"
LAST_EVENTS = 6  # how many of the order's latest events a record shows


@dataclass(frozen=True)
class LiveProblem:
    """A record whose episode has not ended (it may be resolved by an agent already)."""

    problem_id: int
    rule: str
    severity: str
    muted: bool
    since: datetime
    resolved: bool = False


@dataclass(frozen=True)
class Opening:
    rule: str
    severity: str
    muted: bool
    since: datetime
    details: Mapping[str, Any]
    muted_by: str | None = None  # the (first) open cause muting it
    as_of: datetime | None = None  # the instant the rules found it at (behind a backlog: < now)


@dataclass(frozen=True)
class Update:
    """A live record seen again: its details now, and what changed worth a history row."""

    problem_id: int
    rule: str
    severity: str
    muted: bool
    details: Mapping[str, Any]
    changes: tuple[str, ...] = ()  # "severity", "muted", "unmuted"
    muted_by: str | None = None

    @property
    def mute_changed(self) -> bool:
        return "muted" in self.changes or "unmuted" in self.changes


@dataclass(frozen=True)
class Ending:
    problem_id: int
    rule: str
    how: str  # CONDITION_CLEARED | ORDER_FINISHED
    resolves: bool  # the record was still open (not resolved by an agent)


@dataclass(frozen=True)
class Judgement:
    """Every change to one subject's records, and when to look again with no new event."""

    opened: tuple[Opening, ...] = ()
    updated: tuple[Update, ...] = ()
    ended: tuple[Ending, ...] = ()
    due_at: datetime | None = None

    @property
    def changes_records(self) -> bool:
        return bool(self.opened or self.ended)

    @property
    def changes_anything(self) -> bool:
        """Whether a record opens, ends or changes its severity or muting."""
        return self.changes_records or any(u.changes for u in self.updated)


def judge(
    verdicts: Iterable[Verdict],
    live: Mapping[str, LiveProblem],
    finished: bool,
    extra: Callable[[], Mapping[str, Any]] = dict,
) -> Judgement:
    """Apply hysteresis to each verdict against the subject's live records; `extra()` adds
    details shared by every record of the subject (computed only if a record needs them)."""
    opened, updated, ended = [], [], []
    shared: Mapping[str, Any] | None = None
    verdicts = tuple(verdicts)
    for verdict in verdicts:
        current = live.get(verdict.rule)
        if not still_open(current is not None, verdict):
            if current is not None:
                how = ORDER_FINISHED if finished else CONDITION_CLEARED
                ended.append(Ending(current.problem_id, verdict.rule, how, not current.resolved))
            continue
        if shared is None:
            shared = extra()
        details = {**verdict.details, **shared}
        if verdict.muted:
            details["muted_by"] = list(verdict.muted_by)
        if current is None:
            assert verdict.since is not None  # still_open without a record means firing
            cause = verdict.muted_by[0] if verdict.muted_by else None
            opened.append(
                Opening(
                    verdict.rule, verdict.severity, verdict.muted, verdict.since, details, cause
                )
            )
        else:
            updated.append(_update(current, verdict, details))
    return Judgement(tuple(opened), tuple(updated), tuple(ended), next_check(verdicts))


def _update(current: LiveProblem, verdict: Verdict, details: Mapping[str, Any]) -> Update:
    changes = []
    if verdict.severity != current.severity:
        changes.append("severity")
    if verdict.muted != current.muted:
        changes.append("muted" if verdict.muted else "unmuted")
    return Update(
        current.problem_id,
        verdict.rule,
        verdict.severity,
        verdict.muted,
        details,
        tuple(changes),
        verdict.muted_by[0] if verdict.muted_by else None,
    )


def check_order(
    state: OrderState,
    live: Mapping[str, LiveProblem],
    open_venue_rules: AbstractSet[str],
    now: datetime,
    config: RulesConfig,
) -> Judgement:
    """Every per-order rule at `now` against the order's live records, each muted while a cause
    of it is open: a venue-level problem on the order's venue, or a per-order rule on the order
    (`Rule.mutes`)."""
    verdicts = evaluate(state, now, config)
    causes = set(open_venue_rules) | open_order_causes(verdicts, live)
    return judge(
        inhibit(verdicts, causes), live, state.terminal, lambda: {"last_events": last_events(state)}
    )


def check_order_through(
    state: OrderState,
    live: Mapping[str, LiveProblem],
    open_venue_rules: AbstractSet[str],
    start: datetime | None,
    until: datetime,
    config: RulesConfig,
    now: datetime | None = None,
    due: datetime | None = None,
) -> tuple[Judgement, ...]:
    """Judge the order as it was at every instant in (start, until] at which a verdict can
    change -- each of its events, each timer that comes due -- then at `until`: exact however
    far behind its newest events the judgement runs (a backlog, a batch taken late), so a
    condition that began and ended meanwhile is found, not judged away by what came later.

    Returns the judgements that change records (in order; later ones see the records the
    earlier ones opened, under placeholder ids < 0 -- see `placeholder`), and always the one
    at `until` last, whose `due_at` also names the next event after `until`, if any (the
    order must be judged again when the judging instant reaches it). `start` None: from the
    order's first event. Judged at the present (`until` >= `now`), the order is judged with
    everything known, events stamped ahead of the checks' clock included (a producer's clock
    may run ahead). `due`: the timer the last judgement set (an instant a verdict can change
    at before any of the events known since)."""
    times = event_times(state, _DISTANT_PAST if start is None else start, _DISTANT_FUTURE)
    current = dict(live)
    steps: list[Judgement] = []
    timer = [due] if due is not None and (start is None or due > start) else []
    pending = sorted({t for t in (*times, *timer) if t < until})
    while pending:
        instant = pending.pop(0)
        judgement = check_order(as_of(state, instant), current, open_venue_rules, instant, config)
        if judgement.changes_anything:
            steps.append(_at(judgement, instant))
            current = after(current, judgement)
        if judgement.due_at is not None and judgement.due_at < until:
            pending = sorted({*pending, judgement.due_at})
    present = now is not None and until >= now
    view = state if present else as_of(state, until)
    final = check_order(view, current, open_venue_rules, until, config)
    later = [] if present else [t for t in times if t > until][:1]
    due = min([t for t in (final.due_at, *later) if t is not None], default=None)
    return (*steps, replace(_at(final, until), due_at=due))


_DISTANT_PAST = datetime.min.replace(tzinfo=UTC)
_DISTANT_FUTURE = datetime.max.replace(tzinfo=UTC)


def placeholder(rule: str) -> int:
    """The id a record opened by an earlier step of `check_order_through` goes by in later
    steps, until the store knows its real id (unique per rule of one order)."""
    return -1 - tuple(ORDER_RULES).index(rule)


def after(live: Mapping[str, LiveProblem], judgement: Judgement) -> dict[str, LiveProblem]:
    """The live records once `judgement` is written."""
    current = dict(live)
    for ending in judgement.ended:
        current.pop(ending.rule, None)
    for o in judgement.opened:
        current[o.rule] = LiveProblem(placeholder(o.rule), o.rule, o.severity, o.muted, o.since)
    for u in judgement.updated:
        current[u.rule] = replace(current[u.rule], severity=u.severity, muted=u.muted)
    return current


def _at(judgement: Judgement, instant: datetime) -> Judgement:
    opened = tuple(replace(o, as_of=instant) for o in judgement.opened)
    return replace(judgement, opened=opened)


def open_order_causes(verdicts: Iterable[Verdict], live: Mapping[str, LiveProblem]) -> set[str]:
    """The order's cause rules whose record is (or is about to be) open after this judgement:
    firing, or holding an open episode no agent has resolved (an agent who resolved the cause
    dealt with it: its symptoms speak for themselves again)."""
    causes = set()
    for verdict in verdicts:
        current = live.get(verdict.rule)
        if verdict.rule not in ORDER_CAUSES or (current is not None and current.resolved):
            continue
        if still_open(current is not None, verdict):
            causes.add(verdict.rule)
    return causes


def check_venue(
    activity: VenueActivity,
    live: Mapping[str, LiveProblem],
    now: datetime,
    thresholds: Thresholds,
) -> Judgement:
    """Every venue-level rule at `now` against the venue's live records."""
    return judge(evaluate_venue(activity, now, thresholds), live, finished=False)


def muted_rules(open_venue_rules: AbstractSet[str]) -> frozenset[str]:
    """The per-order rules muted on a venue with these venue-level problems open."""
    return frozenset().union(*(VENUE_INHIBITS.get(rule, frozenset()) for rule in open_venue_rules))


# ---------------------------------------------------------------- what the agent sees


def last_events(state: OrderState, limit: int = LAST_EVENTS) -> list[dict[str, Any]]:
    """The order's latest events as its state remembers them, newest first (for agents: the
    projection keeps one fact per milestone or register, and the latest location)."""
    seen: dict[str, tuple[Fact, dict[str, Any]]] = {}
    for fact, entry in _facts(state):
        seen.setdefault(fact.event_id, (fact, entry))
    newest = sorted(seen.values(), key=lambda pair: pair[0].key, reverse=True)[:limit]
    return [
        {"type": entry.pop("type"), "at": fact.at.isoformat(), "sequence": fact.sequence, **entry}
        for fact, entry in newest
    ]


def _facts(state: OrderState) -> Iterable[tuple[Fact, dict[str, Any]]]:
    yield from _carried(state)  # first: of two facts of one event, the richer one is kept
    if state.placed:
        yield state.placed.fact, {"type": "order.created"}
    for fact, kind in (
        (state.authorized, "payment.authorized"),
        (state.accepted, "venue.accepted"),
        (state.ready, "order.ready"),
        (state.picked_up, "order.picked_up"),
        (state.delivered, "order.delivered"),
    ):
        if fact is not None:
            yield fact, {"type": kind}


def _carried(state: OrderState) -> Iterable[tuple[Fact, dict[str, Any]]]:
    if state.payment_failure:
        yield state.payment_failure.fact, {"type": "payment.failed"}
    if state.ready_estimate:
        ready_at = state.ready_estimate.ready_at.isoformat()
        yield state.ready_estimate.fact, {"type": "venue.accepted", "estimated_ready_at": ready_at}
    if state.rejected:
        yield state.rejected.fact, {"type": "venue.rejected", "reason": state.rejected.reason}
    if state.assignment:
        courier = state.assignment.courier_id
        kind = "courier.assigned" if courier is not None else "courier.unassigned"
        yield state.assignment.fact, {"type": kind, "courier_id": courier}
    if state.arrival:
        yield state.arrival.fact, {"type": "courier.arrived_at_venue"}
    if state.cancelled:
        yield state.cancelled.fact, {"type": "order.cancelled", "by": state.cancelled.by}
    for item in state.items:
        kind = "item.substituted" if item.substituted else "item.unavailable"
        yield item.fact, {"type": kind, "item_id": item.item_id}
    if state.track:
        last = state.track[-1]
        yield last.fact, {"type": "courier.location", "lat": last.lat, "lon": last.lon}
