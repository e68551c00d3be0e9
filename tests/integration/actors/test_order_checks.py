"""Order-problem checks on Postgres: projection rows, timers, problem records, inhibition.

Events go straight to the actor's transaction (`actors.order_checks.apply`) and sweeps are called by
hand; the clock is a `FixedClock` moved by the test, so nothing sleeps.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from actors.order_checks import apply, sweep_order_checks
from domain.order_checks.projection import dump_state, fold
from schemas.order_checks import LifecycleEvent, parse_lifecycle
from store.order_checks import decode_state
from tests.conftest import scalar
from tests.support.order_events import T0, at, iso, raw
from workers import clock


@pytest.fixture
def now(db: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[clock.FixedClock]:
    """The checks' clock, at T0 until the test moves it (and a fresh process watermark,
    written at every change)."""
    import actors.order_checks
    from actors.order_checks.inflight import InFlight

    monkeypatch.setattr(
        actors.order_checks, "_inflight", InFlight(actors.order_checks._write_watermark, 0.0)
    )
    fixed = clock.FixedClock(T0)
    with clock.use(fixed):
        yield fixed


def events(*raws: dict[str, Any]) -> list[LifecycleEvent]:
    return [parse_lifecycle(r) for r in raws]


def paid_order(
    order_id: str = "ORD-1", minute: float = 0, venue_id: int = 10, city_id: int = 1
) -> list[Any]:
    """Created and paid by card half a minute later; nobody accepted yet."""
    return events(
        raw("order.created", 1, minute, order_id=order_id, venue_id=venue_id, city_id=city_id),
        raw("payment.authorized", 2, minute + 0.5, order_id=order_id),
    )


def accepted(order_id: str, sequence: int, minute: float, ready_minute: float) -> dict[str, Any]:
    return raw(
        "venue.accepted", sequence, minute, order_id=order_id, estimated_ready_at=iso(ready_minute)
    )


def unaccepted_until_six(now: clock.FixedClock) -> None:
    """A paid order nobody accepts, swept at 6 minutes: venue_not_accepting opens."""
    now.set(at(1))
    apply(paid_order())
    now.set(at(6))
    sweep_order_checks()


def problems(db: Any, rule: str | None = None) -> list[dict[str, Any]]:
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT * FROM order_problems WHERE %(rule)s::text IS NULL OR rule = %(rule)s"
            " ORDER BY problem_id",
            {"rule": rule},
        )
        return [dict(r) for r in rows.mappings()]


def history(db: Any, problem_id: int) -> list[str]:
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT change FROM problem_history WHERE problem_id = %(p)s ORDER BY id",
            {"p": problem_id},
        )
        return [r for (r,) in rows]


def order_row(db: Any, order_id: str = "ORD-1") -> dict[str, Any]:
    with db.engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT *, state::text AS state_text FROM order_states WHERE order_id = %(o)s",
            {"o": order_id},
        )
        return dict(row.mappings().one())


def test_events_build_the_stored_state_and_duplicates_change_nothing(
    db: Any, now: clock.FixedClock
) -> None:
    # Given an order created, paid and accepted
    batch = paid_order() + events(accepted("ORD-1", 3, 1, 20))
    now.set(at(1))
    # When the batch is applied, then applied again
    first = apply(batch)
    once = order_row(db)
    second = apply(batch)
    # Then the row holds the projection of the three events (as dump_state writes it), and
    # the copy changed nothing
    assert decode_state(once["state_text"]) == fold(batch)
    assert json.loads(once["state_text"]) == dump_state(fold(batch))
    assert once["known"] and not once["terminal"] and once["venue_id"] == 10
    assert once["last_sequence"] == 3
    assert (first.duplicates, second.duplicates) == (0, 3)
    assert order_row(db) == once
    assert scalar(db, "SELECT count(*) FROM processed_events") == 3


def test_out_of_order_events_give_the_same_state_as_in_order(
    db: Any, now: clock.FixedClock
) -> None:
    # Given the lifecycle of an order up to pickup
    batch = paid_order() + events(
        accepted("ORD-1", 3, 1, 20),
        raw("courier.assigned", 4, 5),
        raw("courier.arrived_at_venue", 5, 18),
        raw("order.ready", 6, 19),
        raw("order.picked_up", 7, 20),
    )
    shuffled = batch[:]
    random.Random(4).shuffle(shuffled)
    # When its events arrive one message at a time in a shuffled order
    now.set(at(21))
    for one in shuffled:
        apply([one])
    # Then the stored state is the in-order fold, and no late event moved the stage back
    state = decode_state(order_row(db)["state_text"])
    assert state == fold(batch)
    assert state.stage.value == "picked_up"


def test_events_of_an_unknown_order_are_kept_until_it_is_created(
    db: Any, now: clock.FixedClock
) -> None:
    # Given a payment event for an order whose creation has not arrived
    now.set(at(1))
    apply(events(raw("payment.authorized", 2, 0.5)))
    # Then the order is kept, unknown, with no timer (rules cannot judge it yet)
    row = order_row(db)
    assert not row["known"] and row["next_due_at"] is None
    # When order.created arrives
    apply(events(raw("order.created", 1, 0)))
    # Then the state holds both, and the venue_not_accepting timer runs from the payment
    row = order_row(db)
    assert row["known"] and decode_state(row["state_text"]).authorized is not None
    assert row["next_due_at"] == at(5.5)


def test_timer_sweep_opens_venue_not_accepting_exactly_at_due_time(
    db: Any, now: clock.FixedClock
) -> None:
    # Given an order paid at 0.5 min and not accepted (the rule's threshold: 5 minutes)
    now.set(at(1))
    apply(paid_order())
    assert order_row(db)["next_due_at"] == at(5.5)
    # When the sweep runs a moment before the due time
    now.set(at(5.5) - timedelta(milliseconds=1))
    sweep_order_checks()
    # Then nothing is open yet
    assert problems(db) == []
    # When it runs at the due time
    now.set(at(5.5))
    sweep_order_checks()
    # Then one problem is open, since the due time, with no detection lag
    [problem] = problems(db)
    assert problem["rule"] == "venue_not_accepting" and problem["status"] == "open"
    assert problem["since"] == at(5.5) and problem["opened_at"] == at(5.5)
    assert (problem["order_id"], problem["venue_id"], problem["city_id"]) == ("ORD-1", 10, 1)
    assert problem["details"]["paid_at"] == iso(0.5)
    assert [e["type"] for e in problem["details"]["last_events"]] == [
        "payment.authorized",
        "order.created",
    ]
    assert history(db, problem["problem_id"]) == ["opened"]
    # And a second sweep changes nothing
    now.set(at(5.6))
    sweep_order_checks()
    assert len(problems(db)) == 1


def test_problem_resolves_itself_when_the_condition_clears(db: Any, now: clock.FixedClock) -> None:
    # Given an open venue_not_accepting problem
    unaccepted_until_six(now)
    # When the venue accepts
    now.set(at(7))
    apply(events(accepted("ORD-1", 3, 6.9, 25)))
    # Then the record resolved itself: condition cleared
    [problem] = problems(db)
    assert problem["status"] == "resolved" and problem["resolution"] == "condition_cleared"
    assert problem["resolved_at"] == at(7) and problem["ended_at"] == at(7)
    assert history(db, problem["problem_id"]) == ["opened", "resolved"]


def test_a_finished_order_resolves_its_problems_and_drops_its_timer(
    db: Any, now: clock.FixedClock
) -> None:
    # Given an open venue_not_accepting problem
    unaccepted_until_six(now)
    # When the user cancels the order
    apply(events(raw("order.cancelled", 3, 5.9)))
    # Then the problem resolved as order_finished and the order holds no timer
    [problem] = problems(db)
    assert problem["resolution"] == "order_finished"
    row = order_row(db)
    assert row["terminal"] and row["next_due_at"] is None


def test_running_late_has_hysteresis(db: Any, now: clock.FixedClock) -> None:
    # Given an accepted order promised at 45 min, expected at 37 min
    now.set(at(2))
    apply(paid_order() + events(accepted("ORD-1", 3, 1, 20)))
    assert problems(db) == []
    # When the venue pushes its ready estimate to 40 min (predicted 12 min late)
    apply(events(accepted("ORD-1", 4, 2, 40)))
    [late] = problems(db, "running_late")
    assert late["status"] == "open" and late["details"]["late_minutes"] == 12.0
    # Then 7 minutes late (above the 5-minute clear threshold) keeps it open
    apply(events(accepted("ORD-1", 5, 2, 35)))
    [late] = problems(db, "running_late")
    assert late["status"] == "open" and late["details"]["late_minutes"] == 7.0
    # And 3 minutes late resolves it
    apply(events(accepted("ORD-1", 6, 2, 31)))
    [late] = problems(db, "running_late")
    assert late["status"] == "resolved" and late["resolution"] == "condition_cleared"


def test_single_event_messages_share_commits_and_end_as_if_applied_one_by_one(
    db: Any, now: clock.FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import actors.order_checks
    from actors.order_checks import check_order_events

    transactions: list[int] = []
    real = actors.order_checks._apply

    def counted(events: list[Any], holding: Any) -> Any:
        transactions.append(len(events))
        return real(events, holding)

    monkeypatch.setattr(actors.order_checks, "_apply", counted)

    # Given 40 orders' lifecycles, one event per message, every event twice, shuffled
    messages = [
        raw(kind, sequence, sequence / 2, order_id=f"G{n}")
        for n in range(40)
        for sequence, kind in enumerate(("order.created", "payment.authorized"), start=1)
    ]
    messages += [accepted(f"G{n}", 3, 2, 30) for n in range(40)]
    delivered = random.Random(3).sample(messages * 2, len(messages) * 2)
    now.set(at(3))
    # When 16 threads take them as a worker's threads do (small messages: group commit)
    chunks = [delivered[k::16] for k in range(16)]
    errors: list[BaseException] = []

    def take(chunk: list[dict[str, Any]]) -> None:
        try:
            for body in chunk:
                check_order_events.fn(body)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=take, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every state is the one-by-one fold, each event recorded once, nothing failed
    assert errors == []
    assert scalar(db, "SELECT count(*) FROM processed_events") == len(messages)
    for n in range(40):
        mine = [parse_lifecycle(m) for m in messages if m["order_id"] == f"G{n}"]
        row = order_row(db, f"G{n}")
        assert decode_state(row["state_text"]) == fold(mine)
    # And messages shared transactions (16 threads at once: fewer commits than messages)
    assert sum(transactions) == len(delivered) and len(transactions) < len(delivered)


def failing_for_order_bad(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make the order BAD's computation fail (a bug) wherever it is applied; returns the real
    transaction function."""
    import actors.order_checks

    real = actors.order_checks._apply

    def failing(events: list[Any], holding: Any) -> Any:
        if any(e.order_id == "BAD" for e in events):
            raise RuntimeError("a bug in one order's computation")
        return real(events, holding)

    monkeypatch.setattr(actors.order_checks, "_apply", failing)
    return real


def test_a_bad_message_in_a_shared_commit_fails_alone(
    db: Any, now: clock.FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from actors.order_checks import check_order_events

    # Given an order whose computation fails, among others' messages
    failing_for_order_bad(monkeypatch)
    bodies = [raw("order.created", 1, 0, order_id=f"ok{n}") for n in range(20)]
    bodies.insert(7, raw("order.created", 1, 0, order_id="BAD"))
    now.set(at(1))
    failed: list[str] = []

    def take(body: dict[str, Any]) -> None:
        try:
            check_order_events.fn(body)
        except RuntimeError:
            failed.append(body["order_id"])

    threads = [threading.Thread(target=take, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then only its message failed, and every other order was applied
    assert failed == ["BAD"]
    assert scalar(db, "SELECT count(*) FROM order_states WHERE known") == 20


@pytest.mark.parametrize("per_order", [1, 6])  # 20 events (shared commits), 120 (a big batch)
def test_a_batch_whose_one_order_fails_leaves_the_other_orders_applied(
    db: Any, now: clock.FixedClock, monkeypatch: pytest.MonkeyPatch, per_order: int
) -> None:
    import actors.order_checks
    from actors.order_checks import check_order_events

    # Given a batch (as merged one-event messages become) where one order's computation fails
    real = failing_for_order_bad(monkeypatch)
    orders = [f"ok{n}" for n in range(19)] + ["BAD"]
    body = {
        "type": "batch",
        "schema_version": 1,
        "events": [
            raw("order.created", 1, 0, order_id=order_id)
            if k == 0
            else raw("courier.location", k + 1, k / 10, order_id=order_id, lat=60.0, lon=24.0)
            for order_id in orders
            for k in range(per_order)
        ],
    }
    now.set(at(1))
    # When the actor takes it
    with pytest.raises(RuntimeError, match="one order's computation"):
        check_order_events.fn(body)
    # Then the message fails (to be retried), but every other order was applied
    assert scalar(db, "SELECT count(*) FROM order_states WHERE known") == 19
    assert scalar(db, "SELECT count(*) FROM processed_events") == 19 * per_order
    # And taken again, the orders applied count as duplicates; only BAD is still to come
    monkeypatch.setattr(actors.order_checks, "_apply", real)
    check_order_events.fn(body)
    assert scalar(db, "SELECT count(*) FROM order_states WHERE known") == 20


def test_a_transient_failure_of_a_batch_is_retried_whole_not_order_by_order(
    db: Any, now: clock.FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    import actors.order_checks
    from actors.order_checks import check_order_events

    # Given Postgres gone while a batch of 10 orders is applied
    calls: list[int] = []

    def down(events: list[Any], holding: Any) -> Any:
        calls.append(len(events))
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(actors.order_checks, "_apply", down)
    body = {
        "type": "batch",
        "schema_version": 1,
        "events": [raw("order.created", 1, 0, order_id=f"T{n}") for n in range(10)],
    }
    # When the actor takes it, then it fails at once, as one (Retries backs off and retries it)
    with pytest.raises(psycopg.OperationalError):
        check_order_events.fn(body)
    assert calls == [10]


def test_concurrent_copies_of_a_batch_open_one_problem(db: Any, now: clock.FixedClock) -> None:
    # Given a batch that makes venue_not_accepting fire at once (paid 10 minutes ago, and a
    # location sample just now: the batch is current, so it is judged now)
    now.set(at(10.5))
    batch = paid_order() + events(raw("courier.location", 3, 10.4))
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        start.wait()
        try:
            apply(batch)
        except BaseException as error:
            errors.append(error)

    # When two threads apply it at the same moment
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then neither thread failed, and at most one problem opened: the thread that applied the
    # batch judged it at once, or (while the other's copy was in flight, holding the process's
    # watermark at the batch's oldest event) left the order due for the sweep
    assert errors == []
    assert [p["rule"] for p in problems(db)] in ([], ["venue_not_accepting"])
    assert scalar(db, "SELECT count(*) FROM order_states") == 1
    # And after the scheduler's next sweep exactly one is open
    sweep_order_checks()
    assert [p["rule"] for p in problems(db)] == ["venue_not_accepting"]


def test_venue_struggling_mutes_its_orders_venue_not_accepting(
    db: Any, now: clock.FixedClock
) -> None:
    # Given three paid orders of venue 10 that nobody accepts
    now.set(at(1))
    apply([e for n in (1, 2, 3) for e in paid_order(f"O{n}")])
    # When the sweep runs after the 5-minute threshold
    now.set(at(6))
    sweep_order_checks()
    # Then venue_struggling opened for the venue (3 orders waiting), muting the three
    [venue] = problems(db, "venue_struggling")
    assert venue["venue_id"] == 10 and venue["order_id"] is None
    assert venue["severity"] == "critical" and venue["status"] == "open"
    waiting = problems(db, "venue_not_accepting")
    assert len(waiting) == 3 and all(p["muted"] for p in waiting)
    assert all(p["details"]["muted_by"] == ["venue_struggling"] for p in waiting)
    assert history(db, waiting[0]["problem_id"]) == ["opened", "muted"]
    assert {p["muted_by"] for p in waiting} == {"venue_struggling"}
    assert {p["cause_problem_id"] for p in waiting} == {venue["problem_id"]}
    # When a fourth order waits on the struggling venue, it opens muted
    apply(paid_order("O4", minute=1))
    now.set(at(7))
    sweep_order_checks()
    assert problems(db, "venue_not_accepting")[-1]["muted"]
    # When the venue accepts the first three
    apply(events(*(accepted(f"O{n}", 3, 7, 30) for n in (1, 2, 3))))
    sweep_order_checks()
    # Then one order still waits: the venue problem holds (hysteresis), the fourth stays muted
    assert problems(db, "venue_struggling")[0]["status"] == "open"
    assert problems(db, "venue_not_accepting")[-1]["muted"]
    # When the fourth is accepted too, everything resolves
    apply(events(accepted("O4", 3, 7.5, 30)))
    sweep_order_checks()
    assert {p["status"] for p in problems(db)} == {"resolved"}


def test_one_card_per_order_the_late_order_shows_under_its_cause(
    db: Any, now: clock.FixedClock
) -> None:
    from store.order_checks.inbox import Filters, list_problems

    # Given a paid order nobody accepts, swept every few minutes until it is late too
    unaccepted_until_six(now)
    for minute in (12, 18, 24, 30):
        now.set(at(minute))
        sweep_order_checks()
    # Then running_late is open but muted, naming its cause and the cause's record
    [cause] = problems(db, "venue_not_accepting")
    [late] = problems(db, "running_late")
    assert not cause["muted"] and late["muted"]
    assert late["muted_by"] == "venue_not_accepting"
    assert late["cause_problem_id"] == cause["problem_id"]
    assert late["details"]["muted_by"] == ["venue_not_accepting"]
    # And the inbox as cards holds one card for the order, with its symptom attached
    with db.unit_of_work() as uow:
        [card] = list_problems(uow.connection, Filters(cards=True), now.now())
        listed = list_problems(uow.connection, Filters(), now.now())
    assert card.problem_id == cause["problem_id"]
    assert [s.problem_id for s in card.symptoms or []] == [late["problem_id"]]
    assert {p.problem_id for p in listed} == {cause["problem_id"], late["problem_id"]}
    # When the venue accepts at last, with the order still late
    now.set(at(31))
    apply(events(accepted("ORD-1", 3, 31, 46)))
    # Then the cause resolves and running_late is the card now
    assert problems(db, "venue_not_accepting")[0]["status"] == "resolved"
    [late] = problems(db, "running_late")
    assert late["status"] == "open" and not late["muted"]
    assert late["muted_by"] is None and late["cause_problem_id"] is None
    assert history(db, late["problem_id"]) == ["opened", "unmuted"]
    with db.unit_of_work() as uow:
        assert [c.rule for c in list_problems(uow.connection, Filters(cards=True), now.now())] == [
            "running_late"
        ]


def test_venue_struggling_from_rejections_ages_out_on_its_timer(
    db: Any, now: clock.FixedClock
) -> None:
    # Given a venue that rejected three orders in three minutes
    now.set(at(4))
    for n in (1, 2, 3):
        apply(
            paid_order(f"R{n}", minute=n - 1)
            + events(raw("venue.rejected", 3, n, order_id=f"R{n}"))
        )
    sweep_order_checks()
    [venue] = problems(db, "venue_struggling")
    assert venue["since"] == at(3) and venue["details"]["failed_orders"] == ["R1", "R2", "R3"]
    # When the first rejection is over three hours old, two still count (hold threshold 2)
    now.set(at(181))
    sweep_order_checks()
    assert problems(db, "venue_struggling")[0]["status"] == "open"
    # Then, once the second ages out, the venue's timer resolves it
    now.set(at(182))
    sweep_order_checks()
    assert problems(db, "venue_struggling")[0]["resolution"] == "condition_cleared"


def test_sweep_claims_only_due_orders(db: Any, now: clock.FixedClock) -> None:
    # Given two orders: one due at 5.5 min, the other paid later (due at 10.5)
    now.set(at(1))
    apply(paid_order("A"))
    now.set(at(5.5))
    apply(paid_order("B", minute=5))
    # When the sweep runs at 6 minutes
    now.set(at(6))
    judged = sweep_order_checks()
    # Then it judged only the due one (plus venue 10, whose input changed)
    assert judged == 2
    assert [p["order_id"] for p in problems(db, "venue_not_accepting")] == ["A"]


def test_metrics_count_problems_their_lag_and_the_open_ones(db: Any, now: clock.FixedClock) -> None:
    from prometheus_client import REGISTRY

    from workers.order_checks_metrics import OpenProblems

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    rule = {"rule": "venue_not_accepting"}
    opened, lags = (
        sample("larder_problems_opened_total", **rule),
        sample("larder_problem_detection_lag_seconds_count", **rule),
    )
    resolved = sample("larder_problems_resolved_total", how="condition_cleared", **rule)
    # Given a problem detected 30 s after it became true
    now.set(at(1))
    apply(paid_order())
    now.set(at(6))
    sweep_order_checks()
    # Then it is counted, its lag observed, and it shows as open at scrape time
    assert sample("larder_problems_opened_total", **rule) == opened + 1
    assert sample("larder_problem_detection_lag_seconds_count", **rule) == lags + 1
    [gauge] = OpenProblems(db).collect()
    counts = {(s.labels["rule"], s.labels["muted"]): s.value for s in gauge.samples}
    assert counts == {("venue_not_accepting", "false"): 1, ("venue_not_accepting", "true"): 0}
    # When the venue accepts, it is counted as resolved and no longer open
    apply(events(accepted("ORD-1", 3, 6.5, 25)))
    assert sample("larder_problems_resolved_total", how="condition_cleared", **rule) == (
        resolved + 1
    )
    [gauge] = OpenProblems(db).collect()
    assert gauge.samples == []


def test_finished_and_never_created_orders_are_pruned_after_a_week(
    db: Any, now: clock.FixedClock
) -> None:
    from actors.order_checks import prune_finished_orders

    # Given a delivered order, a live one, and one whose order.created never came
    now.set(at(1))
    apply(paid_order("DONE") + events(raw("order.delivered", 3, 1, order_id="DONE")))
    apply(paid_order("LIVE"))
    apply(events(raw("payment.authorized", 2, 0.5, order_id="GHOST")))
    # When a week has passed since they last changed
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE order_states SET updated_at = now() - interval '8 days'")
    prune_finished_orders()
    # Then only the live order is kept
    assert scalar(db, "SELECT string_agg(order_id, ',') FROM order_states") == "LIVE"


def test_a_batch_taken_late_is_judged_at_its_own_time_and_swept_after(
    db: Any, now: clock.FixedClock
) -> None:
    # Given a paid order whose events the workers only take 10 minutes later (a backlog: the
    # venue's acceptance could be in the queue behind them)
    now.set(at(10.5))
    # When the batch is applied
    apply(paid_order())
    # Then it is judged at its own time: nothing is open yet, the timer is already due
    assert problems(db) == []
    assert order_row(db)["next_due_at"] == at(5.5)
    # And a sweep while the workers are still busy judges at their watermark: nothing yet
    sweep_order_checks()
    assert problems(db) == []
    # Then, once they are idle (2 s after their last batch) with nothing queued, it opens
    quiet = now.advance(seconds=2.5)
    sweep_order_checks()
    [problem] = problems(db)
    assert problem["since"] == at(5.5) and problem["opened_at"] == quiet


def test_a_condition_that_ended_behind_a_backlog_is_still_found(
    db: Any, now: clock.FixedClock
) -> None:
    # Given a paid order whose acceptance came 7 minutes late, all taken 20 minutes on (a
    # backlog: by then the state already holds the acceptance)
    now.set(at(20))
    # When the batch is applied (judged through to its newest event plus the grace)
    apply(paid_order() + events(accepted("ORD-1", 3, 7.5, 30)))
    # Then venue_not_accepting was found as of its deadline and ended as of the acceptance
    [record] = problems(db, "venue_not_accepting")
    assert record["since"] == at(5.5) and record["judged_as_of"] == at(5.5)
    assert record["opened_at"] == at(20) and record["ended_at"] == at(20)
    assert record["status"] == "resolved" and record["resolution"] == "condition_cleared"
    assert history(db, record["problem_id"]) == ["opened", "resolved"]
    # And once idle, the sweeps judge it on to now without reopening anything
    now.advance(seconds=2.5)
    sweep_order_checks()
    assert len(problems(db)) == 1


def test_a_late_batch_does_not_take_back_what_a_later_judgement_opened(
    db: Any, now: clock.FixedClock
) -> None:
    # Given a paid order nobody accepted, opened by a sweep at 6 minutes
    unaccepted_until_six(now)
    [opened] = problems(db, "venue_not_accepting")
    # When a batch taken late brings an older event of that order (judged at its own time,
    # 0.7 min + 30 s: earlier than the sweep's judgement)
    now.set(at(6.2))
    apply(events(raw("courier.location", 3, 0.7, order_id="ORD-1", lat=60.17, lon=24.94)))
    # Then the order is judged no earlier than before: the record stays open, once
    [still] = problems(db, "venue_not_accepting")
    assert still["problem_id"] == opened["problem_id"] and still["ended_at"] is None
    assert history(db, still["problem_id"]) == ["opened"]
    assert order_row(db)["judged_at"] == at(6)


def test_sweeps_hold_while_messages_wait_and_the_workers_catch_up(
    db: Any, now: clock.FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import actors.order_checks

    # Given a due timer, and 12 messages waiting in the order_checks queue
    now.set(at(1))
    apply(paid_order())
    waiting = [12]
    monkeypatch.setattr(actors.order_checks, "_depth", lambda queue: waiting[0])
    # And workers working through a backlog: every few seconds they apply old news
    for second in range(0, 301, 30):
        now.set(at(6) + timedelta(seconds=second))
        apply(events(raw("order.ready", 1, 1.2 + second / 600, order_id=f"OTHER-{second}")))
        # When the sweep runs, it holds, however long the backlog lasts
        assert sweep_order_checks() == 0 and problems(db) == []
    # Then, once the queue is read and the workers are idle, it judges the order
    waiting[0] = 0
    now.advance(seconds=2.5)
    assert sweep_order_checks() == 2
    assert [p["rule"] for p in problems(db)] == ["venue_not_accepting"]


def test_a_queue_nobody_reads_does_not_stop_the_timers(
    db: Any,
    now: clock.FixedClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import actors.order_checks
    import store.order_checks

    monkeypatch.setattr(store.order_checks, "_warned_at", float("-inf"))  # once a minute at most
    # Given messages waiting, and workers that applied nothing for a while
    now.set(at(1))
    apply(paid_order())
    monkeypatch.setattr(actors.order_checks, "_depth", lambda queue: 500)
    now.set(at(1.5))
    assert sweep_order_checks() == 0
    # When nothing was applied for longer than STALLED_S, the sweep judges at now
    now.set(at(1) + timedelta(seconds=actors.order_checks.STALLED_S + 1))
    assert sweep_order_checks() == 0  # not due yet at now: nothing to judge
    now.set(at(6))
    assert sweep_order_checks() == 2  # late detection beats none
    assert len(problems(db)) == 1
    # And the logs say why
    assert "no worker applied any" in caplog.text


def other_worker(db: Any, newest: Any, at_: Any) -> None:
    """Another worker process's watermark: it applied events as new as `newest`, at `at_`."""
    from store.order_checks import advance_watermark

    with db.unit_of_work(single_statement=True) as uow:
        advance_watermark(uow.connection, "other-host:1", newest, at_)


def test_sweeps_judge_at_the_slowest_busy_process(db: Any, now: clock.FixedClock) -> None:
    # Given a paid order nobody accepted (due at 5.5 min), and at 6 min two busy processes:
    # this one has applied news up to 5.9 min, another is still at 0.2 min
    now.set(at(1))
    apply(paid_order())
    now.set(at(6))
    apply(events(raw("order.ready", 1, 5.9, order_id="OTHER")))
    other_worker(db, at(0.2), at(6))
    # When the sweep runs, it judges at the slower one's watermark: nothing is due there yet
    assert sweep_order_checks() == 0 and problems(db) == []
    # Then, once that process caught up, the order is judged
    other_worker(db, at(5.9), at(6))
    sweep_order_checks()
    assert [p["rule"] for p in problems(db)] == ["venue_not_accepting"]


def test_a_process_gone_quiet_does_not_hold_the_sweeps(db: Any, now: clock.FixedClock) -> None:
    # Given another process that applied old news long ago and nothing since
    now.set(at(1))
    other_worker(db, at(0.1), at(1))
    apply(paid_order())
    # When the sweep runs at 6 min (everyone idle, nothing queued), it judges at now
    now.set(at(6))
    sweep_order_checks()
    assert [p["rule"] for p in problems(db)] == ["venue_not_accepting"]


def test_a_batch_is_not_judged_ahead_of_a_slower_process(db: Any, now: clock.FixedClock) -> None:
    # Given another busy process still applying news of 0.2 min
    now.set(at(6))
    other_worker(db, at(0.2), at(6))
    # When this one applies an order's events up to 5.9 min (the venue's answer could be in
    # the other process's messages)
    apply(
        [
            *paid_order(),
            *events(raw("courier.location", 3, 5.9, order_id="ORD-1", lat=60.17, lon=24.94)),
        ]
    )
    # Then the order is judged at the other's watermark (plus the grace): nothing opens yet
    assert problems(db) == []
    assert order_row(db)["judged_at"] == at(0.7)


def test_a_batch_is_not_judged_ahead_of_this_process_s_other_messages(
    db: Any, now: clock.FixedClock
) -> None:
    from domain.order_checks.rules import RulesConfig
    from store.order_checks import LowWater, apply_events

    # Given this process still applying another message, whose oldest news is of 0.2 min
    now.set(at(6))
    behind = LowWater("this-host:1", holding=at(0.2))
    # When it applies an order's events up to 5.9 min in the same moment
    batch = [*paid_order(), *events(raw("order.ready", 3, 5.9, order_id="ORD-1"))]
    with db.unit_of_work() as uow:
        apply_events(uow.connection, batch, clock.now, RulesConfig(), behind)
    # Then the order is judged at that message's news (plus the grace): nothing opens yet
    assert problems(db) == []
    assert order_row(db)["judged_at"] == at(0.7)
