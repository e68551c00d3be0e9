"""The Procfile's worker line, run as ops run it: `dramatiq` processes consume RabbitMQ,
write Postgres and export multiprocess Prometheus metrics (including larder's own)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import pytest

from tests.conftest import SESSION, scalar, wait_for
from tests.support.factories import venue
from tests.support.paths import ROOT
from workers.queues import delete_queues

PREFIX = f"t{SESSION}p."


def procfile(process: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            return command.strip()
    raise AssertionError(f"no {process} line in Procfile")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def procfile_env(prefix: str, scratch: Path, worker_port: int, threads: int) -> dict[str, str]:
    """The environment of the Procfile's processes on queues of their own (`prefix`), one
    worker process with `threads` threads, its metrics on `worker_port`."""
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "LARDER_QUEUE_PREFIX": prefix,
        "WORKER_PROCESSES": "1",
        "WORKER_THREADS": str(threads),
        "PROMETHEUS_MULTIPROC_DIR": str(scratch / "prom"),
        "dramatiq_prom_host": "127.0.0.1",
        "dramatiq_prom_port": str(worker_port),
    }


@pytest.fixture
def procfile_worker(db: Any, rabbitmq: str, tmp_path: Path) -> Iterator[int]:
    port = free_port()
    env = procfile_env(PREFIX, tmp_path, port, threads=2)
    proc = subprocess.Popen(
        ["sh", "-c", procfile("worker")], cwd=ROOT, env=env, start_new_session=True
    )
    yield port
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)
    delete_queues(rabbitmq, PREFIX)  # every queue the worker declared, not only `events`


def publish(url: str, body: dict[str, Any], message_id: str) -> None:
    envelope = {
        "queue_name": f"{PREFIX}events",
        "actor_name": "ingest",
        "args": [body],
        "kwargs": {},
        "options": {},
        "message_id": message_id,
        "message_timestamp": 1767614400000,
    }
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.queue_declare(f"{PREFIX}events", passive=True)
    channel.basic_publish(
        "", f"{PREFIX}events", json.dumps(envelope).encode(), pika.BasicProperties(delivery_mode=2)
    )
    connection.close()


def metrics(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return str(response.read().decode())
    except OSError:
        return ""


def queue_declared(url: str, queue: str = f"{PREFIX}events") -> bool:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        connection.channel().queue_declare(queue, passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker:
        return False
    finally:
        if connection.is_open:
            connection.close()


def test_procfile_worker_processes_events_and_exports_metrics(
    procfile_worker: int, db: Any, rabbitmq: str
) -> None:
    # Given the Procfile worker is running and has declared its queues
    wait_for(lambda: queue_declared(rabbitmq), timeout=60)
    # When a valid and an invalid event are published
    publish(rabbitmq, venue(venue_id=99, name="from procfile"), str(uuid.uuid4()))
    publish(rabbitmq, venue("bad", rating=9), "procfile-bad")
    # Then the valid one lands and the invalid one is recorded
    wait_for(lambda: scalar(db, "SELECT name FROM venues WHERE venue_id = 99"), timeout=30)
    wait_for(
        lambda: scalar(
            db, "SELECT count(*) FROM rejected_messages WHERE message_id = 'procfile-bad'"
        ),
        timeout=30,
    )
    # And both dramatiq's and larder's counters are exported across processes
    text = wait_for(
        lambda: (
            "larder_rejected_messages_total{" in metrics(procfile_worker)
            and metrics(procfile_worker)
        ),
        timeout=30,
    )
    assert f'queue_name="{PREFIX}events"' in text
    assert "dramatiq_messages_total" in text
    # And its processes run numpy's BLAS on one thread each (they are many already)
    assert {env.get("OPENBLAS_NUM_THREADS") for env in worker_environs()} == {"1"}


def worker_environs() -> list[dict[str, str]]:
    """The environments of this test's dramatiq processes (Linux /proc)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            raw = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        env = dict(v.split("=", 1) for v in raw.decode(errors="replace").split("\0") if "=" in v)
        if b"dramatiq" in cmdline and env.get("LARDER_QUEUE_PREFIX") == PREFIX:
            found.append(env)
    assert found, "no dramatiq process of this test found"
    return found
