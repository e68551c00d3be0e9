"""Deliveries merged into one message before a worker thread sees them (coalescing).

A producer that publishes one event per message (as order services do) makes the per-message
part of a worker its limit: on two cores, receiving a message, handing it to a thread, running
the middleware and acking cost about as much as the event's own transaction
(benchmarks/orders.py: a no-op actor does ~6,000 single-event messages/s, the checks ~1,600).
An actor that takes batches anyway can say so here: the consumer then merges the deliveries of
that actor already waiting in its prefetch buffer into one message of the actor's batch shape,
and acks (or nacks) them all when that message is done.

It never waits for a timer, but it does not hand out a small batch while `in_flight` of the
actor's messages are running in the process either: the next one keeps gathering what arrives
until one of them is settled or it is full (group commit, as intake's combiner). Handed out at
once, a backlog of single deliveries went out in many small batches to the 48 idle threads,
each paying a transaction; gathering made them few and large (benchmarks/orders.py, 20,000
one-event messages, 2026-12-07: median ~3,900 events/s handed out at once, ~4,400 gathering
behind 4 in flight, in alternating runs). A delivery that finds fewer out goes at once, alone.

What may be merged is the actor's to say, per body (`single`): only a body it would accept
alone, so that one invalid delivery is dead-lettered alone with its reason, as before, instead
of taking its neighbours down with it. Deliveries that carry Dramatiq options (a retry, a
delay) are never merged: the merged message starts its own retry count, and a message on its
way to being dead-lettered must get there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Coalescing:
    """How one actor's single deliveries merge: `single(body)` says whether a body may be
    merged, `merge(bodies)` is the body of one message holding them all, at most `limit`.
    While `in_flight` of its messages are out in a process, the next one gathers what arrives
    (up to `limit`) instead of going at once."""

    actor_name: str
    single: Callable[[Any], bool]
    merge: Callable[[Sequence[Any]], Any]
    limit: int
    in_flight: int = 4


# Deliveries a consumer of a merging actor's queue holds unacked (its RabbitMQ prefetch) while
# they merge: enough for a few merged messages at once (benchmarks/orders.py, 100k live
# orders: ~3,000 one-event messages/s with Dramatiq's 96 for 48 threads, ~3,400 with 1,000).
# Other deliveries set it back to Dramatiq's (workers/broker.py). Those not yet begun are
# invisible to the order sweeps' watermark (actors/order_checks/inflight.py), as Dramatiq's
# prefetched messages are; they were delivered after the ones the workers hold.
PREFETCH = 1000

_BY_ACTOR: dict[str, Coalescing] = {}


def register(coalescing: Coalescing) -> Coalescing:
    """Let the consumers merge this actor's single deliveries (its module calls this)."""
    _BY_ACTOR[coalescing.actor_name] = coalescing
    return coalescing


def of(actor_name: str) -> Coalescing | None:
    return _BY_ACTOR.get(actor_name)


MERGEABLE_OPTIONS = frozenset({"trace"})  # workers.tracing.CARRIER


def mergeable(
    actor_name: str, args: Sequence[Any], kwargs: dict[str, Any], options: dict[str, Any]
) -> bool:
    """Whether a message (one positional body, no options but a trace) may be merged with
    its actor's."""
    rule = _BY_ACTOR.get(actor_name)
    if rule is None or len(args) != 1 or kwargs or not MERGEABLE_OPTIONS.issuperset(options):
        return False
    return rule.single(args[0])
