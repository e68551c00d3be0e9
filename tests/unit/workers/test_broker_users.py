"""The RabbitMQ users' description (pure): the definitions in infra/ are generated from it, and
its patterns admit exactly larder's queues."""

from __future__ import annotations

import json
import re

from tests.support.paths import ROOT
from workers.broker_users import definitions, password_hash, users
from workers.queues import names_under


def test_the_definitions_in_infra_are_the_generated_ones() -> None:
    # (regenerate: larder rabbitmq definitions --queue-prefix "" > infra/rabbitmq/definitions.json)
    stored = json.loads((ROOT / "infra" / "rabbitmq" / "definitions.json").read_text())
    assert stored == definitions("", "larder-", "/")
    assert all(user["password_hash"] == "" for user in stored["users"])


def test_the_worker_may_touch_larders_queues_and_nothing_else() -> None:
    worker = {u.suffix: u for u in users("prod.")}["worker"]
    for queue in names_under("prod."):
        assert re.match(worker.configure, queue) and re.match(worker.read, queue), queue
    for other in ("events", "prod.events.other", "other.prod.events", "prod.eventsX"):
        assert not re.match(worker.configure, other), other
    assert re.match(worker.write, "amq.default")


def test_the_producer_only_publishes() -> None:
    producer = {u.suffix: u for u in users("")}["producer"]
    assert (producer.configure, producer.read) == ("^$", "^$")
    assert re.match(producer.write, "amq.default") and not re.match(producer.write, "events")


def test_passwords_are_hashed_as_rabbitmq_does() -> None:
    # The example of RabbitMQ's docs (passwords.html): "test12" with salt 908DC60A
    assert password_hash("test12", bytes.fromhex("908dc60a")) == (
        "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR"
    )
