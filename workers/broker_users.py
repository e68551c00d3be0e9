"""The RabbitMQ users each kind of process connects as: one description per user, with the
vhost permissions it needs (regular expressions over resource names, RabbitMQ's model), as
RabbitMQ definitions (`larder rabbitmq definitions`, `infra/rabbitmq/definitions.json`).

    <user prefix>producer  upstream systems and `larder intake publish`: publish to the
                           default exchange only; cannot consume, declare, purge or delete
                           (publish with LARDER_DECLARE_QUEUES=false)
    <user prefix>worker    the workers and the scheduler: declare, consume and publish to the
                           deployment's queues (and their delay and dead-letter queues) only
    <user prefix>monitor   ops and autoscalers (the management API's queue lengths): no access
                           to messages

Publishing goes through the default exchange, whose permission cannot name the routing key:
RabbitMQ lets a producer reach any queue of the vhost. What it may run there is decided by
the workers: signatures (a producer's key can be limited to its workloads) and the rule that a
message runs only on its actor's own queue (docs/security.md).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass
from typing import Any

from workers.queues import SUFFIXES, WORKLOADS

NOTHING = "^$"


@dataclass(frozen=True)
class BrokerUser:
    suffix: str
    description: str
    configure: str
    write: str
    read: str
    tags: tuple[str, ...] = ()


def users(queue_prefix: str = "") -> list[BrokerUser]:
    queue = _queues(queue_prefix)
    return [
        BrokerUser(
            "producer",
            "publishes events: the default exchange only, no consuming or declaring",
            configure=NOTHING,
            write=r"^amq\.default$",
            read=NOTHING,
        ),
        BrokerUser(
            "worker",
            "workers and scheduler: declare, consume and publish to larder's queues",
            configure=queue,
            write=rf"^(amq\.default|{queue[1:-1]})$",
            read=queue,
        ),
        BrokerUser(
            "monitor",
            "ops and autoscalers: queue lengths over the management API, no messages",
            configure=NOTHING,
            write=NOTHING,
            read=NOTHING,
            tags=("monitoring",),
        ),
    ]


def _queues(prefix: str) -> str:
    """Every queue larder declares under `prefix`, with its delay and dead-letter queues."""
    workloads = "|".join(re.escape(w) for w in WORKLOADS)
    suffixes = "|".join(re.escape(s) for s in SUFFIXES if s)
    return rf"^{re.escape(prefix)}({workloads})({suffixes})?$"


def definitions(
    queue_prefix: str = "",
    user_prefix: str = "larder-",
    vhost: str = "/",
    passwords: dict[str, str] | None = None,
) -> dict[str, Any]:
    """RabbitMQ definitions (`rabbitmqctl import_definitions`, or the management plugin's
    `load_definitions`) of the users and their permissions on `vhost`. A user without a
    password in `passwords` (by suffix) gets none: it cannot log in until ops set one
    (`rabbitmqctl change_password`)."""
    passwords = passwords or {}
    found = users(queue_prefix)
    return {
        "users": [
            {
                "name": f"{user_prefix}{user.suffix}",
                "password_hash": password_hash(passwords[user.suffix])
                if user.suffix in passwords
                else "",
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": list(user.tags),
                "limits": {},
            }
            for user in found
        ],
        "vhosts": [{"name": vhost}],
        "permissions": [
            {
                "user": f"{user_prefix}{user.suffix}",
                "vhost": vhost,
                "configure": user.configure,
                "write": user.write,
                "read": user.read,
            }
            for user in found
        ],
    }


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = os.urandom(4) if salt is None else salt
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()
