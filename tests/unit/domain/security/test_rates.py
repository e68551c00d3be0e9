"""Rate limits (pure): bursts pass, the rate holds, callers are independent, memory bounded."""

from __future__ import annotations

from domain.security.rates import RateLimits, retry_after


def test_a_burst_passes_then_the_rate_holds() -> None:
    # Given 10 requests/s with bursts of 5
    limits = RateLimits(rate=10, burst=5)
    # When 6 requests come at once
    answers = [limits.take("key-a", 100.0) for _ in range(6)]
    # Then 5 pass and the 6th is told to wait a tenth of a second
    assert answers[:5] == [None] * 5
    assert answers[5] is not None and abs(answers[5] - 0.1) < 1e-9
    # And a tenth of a second later, one more passes
    assert limits.take("key-a", 100.11) is None
    assert limits.take("key-a", 100.11) is not None


def test_callers_have_their_own_buckets() -> None:
    limits = RateLimits(rate=1, burst=1)
    assert limits.take("a", 0.0) is None and limits.take("a", 0.0) is not None
    assert limits.take("b", 0.0) is None


def test_full_buckets_are_forgotten_beyond_the_bound() -> None:
    limits = RateLimits(rate=1, burst=2, max_callers=3)
    for caller in "abcd":
        limits.take(caller, 0.0)
    limits.take("e", 10.0)  # everyone else has refilled by now
    assert set(limits._buckets) == {"e"}


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert retry_after(0.01) == "1" and retry_after(1.2) == "2"
