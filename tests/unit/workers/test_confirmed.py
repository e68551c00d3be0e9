"""Publishing across a broker restart: the same message is sent again until confirmed, and a
publisher that gives up says how far it got."""

from __future__ import annotations

from typing import Any

import pytest
from dramatiq.errors import ConnectionClosed

from tests.support.factories import venue
from workers.confirmed import PublishInterrupted, enqueue_confirmed
from workers.publishing import publish


class FlakyBroker:
    """Confirms messages, except that the enqueues numbered in `fail_at` (from 0) raise."""

    def __init__(self, fail_at: set[int] | None = None, down_from: int | None = None) -> None:
        self.fail_at = fail_at or set()
        self.down_from = down_from
        self.calls = 0
        self.confirmed: list[Any] = []

    def enqueue(self, message: Any) -> Any:
        call, self.calls = self.calls, self.calls + 1
        if call in self.fail_at or (self.down_from is not None and call >= self.down_from):
            raise ConnectionClosed(OSError("connection reset"))
        self.confirmed.append(message)
        return message


def test_a_message_is_sent_again_until_confirmed() -> None:
    # Given a broker that drops the connection twice
    broker = FlakyBroker(fail_at={0, 1})
    slept: list[float] = []
    # When one message is enqueued with a minute's patience
    enqueue_confirmed(broker, "m", give_up_s=60, sleep=slept.append)  # type: ignore[arg-type]
    # Then it was confirmed on the third try, after growing pauses
    assert broker.confirmed == ["m"] and broker.calls == 3
    assert slept == [0.2, 0.4]


def test_publish_resumes_from_the_first_unconfirmed_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given 3,000 events (3 messages) and a broker that restarts during the second
    monkeypatch.setattr("time.sleep", lambda _: None)
    events = [venue(f"v{i}", venue_id=i) for i in range(3000)]
    broker = FlakyBroker(fail_at={1, 2})
    # When they are published
    report = publish(broker, events)  # type: ignore[arg-type]
    # Then every message was confirmed once, in order, none skipped
    assert report.events == 3000 and report.messages == 3
    sent = [e["event_id"] for m in broker.confirmed for e in m.args[0]["events"]]
    assert sent == [e["event_id"] for e in events]


def test_a_publisher_that_gives_up_says_what_was_confirmed() -> None:
    # Given a broker that goes away for good after two messages
    events = [venue(f"v{i}", venue_id=i) for i in range(3500)]
    broker = FlakyBroker(down_from=2)
    # When they are published without patience
    with pytest.raises(PublishInterrupted) as raised:
        publish(broker, events, give_up_s=0)  # type: ignore[arg-type]
    # Then the error says how far it got and that running again is safe, in one line
    assert raised.value.confirmed.events == 2000
    text = str(raised.value)
    assert "\n" not in text
    assert text.startswith("RabbitMQ confirmed 2000 events (2 messages)")
    assert "running the same command again is safe" in text


def test_refused_credentials_are_not_waited_for() -> None:
    # Given a broker that refuses the credentials
    import pika.exceptions

    class Refusing(FlakyBroker):
        def enqueue(self, message: Any) -> Any:
            self.calls += 1
            raise ConnectionClosed(pika.exceptions.ProbableAuthenticationError("refused"))

    broker = Refusing()
    # When a message is enqueued with a minute's patience, Then it fails at once
    with pytest.raises(ConnectionClosed):
        enqueue_confirmed(broker, "m", give_up_s=60, sleep=lambda _: None)  # type: ignore[arg-type]
    assert broker.calls == 1
