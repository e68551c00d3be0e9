"""Payload limits (pure): each limit has its own reason, naming where the value is."""

from __future__ import annotations

from typing import Any

from domain.security.limits import PayloadLimits

LIMITS = PayloadLimits(max_batch=3, max_string=10, max_list=4, max_depth=5)


def envelope(arg: Any) -> dict[str, Any]:
    return {"args": [arg], "kwargs": {}, "options": {"traceback": "x" * 100}}


def test_a_message_within_every_limit_passes() -> None:
    # Given a batch at the limits (Dramatiq's own options are not a producer's to fill)
    batch = {"type": "batch", "events": [{"name": "0123456789", "ids": [1, 2, 3, 4]}] * 3}
    assert LIMITS.check(envelope(batch)) is None


def test_each_limit_has_its_own_reason() -> None:
    batch = {"type": "batch", "events": [{"a": 1}] * 4}
    assert LIMITS.check(envelope(batch)) == (
        "batch_too_long",
        "batch too long: 4 events at args[0], limit 3",
    )
    long_string = {"type": "batch", "events": [{"a": 1}, {"note": "x" * 11}]}
    assert LIMITS.check(envelope(long_string)) == (
        "string_too_long",
        "string too long: 11 characters at args[0].events[1].note, limit 10",
    )
    assert LIMITS.check(envelope({"ids": list(range(5))})) == (
        "list_too_long",
        "list too long: 5 entries at args[0].ids, limit 4",
    )
    assert LIMITS.check(envelope({"a": {"b": {"c": {"d": {}}}}})) == (
        "too_deep",
        "nested deeper than 5 levels at args[0].a.b.c.d",
    )


def test_keys_and_kwargs_count_and_long_keys_are_cut_in_the_reason() -> None:
    assert LIMITS.check({"args": [], "kwargs": {"k" * 11: 1}}) == (
        "string_too_long",
        "string too long: 11 characters at kwargs.(a key), limit 10",
    )
    wide = PayloadLimits(max_string=100, max_list=1)
    problem = wide.check(envelope({"k" * 60: [1, 2]}))
    assert problem is not None and problem[1].endswith("args[0]." + "k" * 40 + "..., limit 1")


def test_the_defaults_admit_the_largest_valid_messages() -> None:
    # Given a full batch of 1,000 events and a refresh job for 1,000 users
    limits = PayloadLimits()
    events: list[dict[str, Any]] = [{"type": "user.upserted", "segment": "s"}] * 1000
    job = {"user_ids": list(range(1000))}
    # Then neither is over a limit, and one more event is
    assert limits.check(envelope({"type": "batch", "events": events})) is None
    assert limits.check(envelope(job)) is None
    one_more = {"type": "batch", "events": [*events, {"type": "user.upserted"}]}
    assert limits.check(envelope(one_more)) == (
        "batch_too_long",
        "batch too long: 1001 events at args[0], limit 1000",
    )
