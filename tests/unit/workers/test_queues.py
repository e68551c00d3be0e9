"""Queue names per workload, and what deleting a prefix's queues covers."""

from __future__ import annotations

import pytest

from workers import queues


def test_a_prefix_covers_each_workloads_queue_with_its_delay_and_dead_letter_queues() -> None:
    # Given a prefix / When its queues are named
    names = queues.names_under("t1p.")
    # Then every workload has its queue, its .DQ and its .XQ, and nothing else
    assert len(names) == 3 * len(queues.WORKLOADS)
    assert {"t1p.events", "t1p.events.DQ", "t1p.events.XQ", "t1p.maintenance.XQ"} <= set(names)
    assert all(n.startswith("t1p.") for n in names)


def test_deleting_the_unprefixed_queues_is_refused_before_connecting() -> None:
    # Given no prefix (the deployment's own queues) / When deleted / Then refused (no connection:
    # a unit test that connected would fail)
    with pytest.raises(ValueError, match="refusing"):
        queues.delete_queues("amqp://guest:guest@127.0.0.1:5672/%2F", "")
