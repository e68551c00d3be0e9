"""A worker process's watermark: the oldest event it holds, else the newest it applied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from actors.order_checks.inflight import InFlight

T = datetime(2026, 1, 5, 12, tzinfo=UTC)


def minutes(m: float) -> datetime:
    return T + timedelta(minutes=m)


class Recorder:
    """The writes, and a monotonic clock the test moves."""

    def __init__(self) -> None:
        self.writes: list[datetime] = []
        self.clock = 0.0
        self.fail = False

    def write(self, mark: datetime, now: datetime) -> None:
        if self.fail:
            raise ConnectionError("database down")
        self.writes.append(mark)


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def inflight(rec: Recorder) -> InFlight:
    return InFlight(rec.write, every_s=1.0, monotonic=lambda: rec.clock)


def test_the_mark_is_the_oldest_event_held_then_the_newest_applied(
    inflight: InFlight, rec: Recorder
) -> None:
    # Given two messages held, with oldest events at 5 and 3 minutes
    assert inflight.begin(minutes(5), minutes(10)) is None
    assert inflight.begin(minutes(3), minutes(10)) == minutes(5)  # the other one held
    # Then the mark is the older of them
    assert inflight.mark() == minutes(3)
    # When the older one is applied (its newest event at 4 min), the other still holds
    inflight.end(minutes(3), minutes(4), minutes(10))
    assert inflight.mark() == minutes(5)
    # And when both are done, the mark is the newest event applied
    inflight.end(minutes(5), minutes(6), minutes(10))
    assert inflight.mark() == minutes(6)


def test_writes_are_throttled_but_a_lower_mark_is_written_at_once(
    inflight: InFlight, rec: Recorder
) -> None:
    # Given a first message (written at once: nothing was written before)
    inflight.begin(minutes(5), minutes(10))
    inflight.end(minutes(5), minutes(6), minutes(10))
    assert rec.writes == [minutes(5)]  # the end came within the throttle
    # When a late message arrives with older news, within the same second
    inflight.begin(minutes(2), minutes(10))
    # Then the lower mark is written at once: the sweeps must wait for it
    assert rec.writes == [minutes(5), minutes(2)]
    # And once it is applied, the higher mark waits for the throttle
    inflight.end(minutes(2), minutes(2.5), minutes(10))
    assert rec.writes[-1] == minutes(2)
    rec.clock = 1.5
    inflight.begin(minutes(7), minutes(10))
    assert rec.writes[-1] == minutes(7)  # the oldest event held


def test_a_failed_message_does_not_count_as_applied(inflight: InFlight) -> None:
    # Given a message that failed (it will be delivered again)
    inflight.begin(minutes(5), minutes(10))
    inflight.end(minutes(5), None, minutes(10))
    # Then nothing counts as applied, and nothing is held
    assert inflight.mark() is None


def test_a_mark_is_never_ahead_of_now(inflight: InFlight, rec: Recorder) -> None:
    # Given a producer whose clock is ahead: events stamped after the checks' now
    inflight.begin(minutes(30), minutes(10))
    # Then the mark written is now, not the future
    assert rec.writes == [minutes(10)]


def test_a_failed_write_releases_the_message(inflight: InFlight, rec: Recorder) -> None:
    # Given the database down when a message arrives
    rec.fail = True
    with pytest.raises(ConnectionError):
        inflight.begin(minutes(5), minutes(10))
    # Then the message is not held (it will be retried and held again)
    assert inflight.mark() is None


def test_a_shared_transaction_leaves_its_own_messages_out_of_what_is_held(
    inflight: InFlight,
) -> None:
    from collections import Counter

    # Given three messages held, two of them applied together in one transaction
    for oldest in (minutes(2), minutes(3), minutes(3)):
        inflight.begin(oldest, minutes(10))
    # Then that transaction waits only on the third one's news
    assert inflight.others(Counter({minutes(2): 1, minutes(3): 1})) == minutes(3)
    assert inflight.others(Counter({minutes(3): 2})) == minutes(2)
    assert inflight.others(Counter({minutes(2): 1, minutes(3): 2})) is None
