"""`larder demo` on a machine where no service answers: the embedded default takes over."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.timeout(300)
def test_demo_falls_back_to_embedded_postgres_and_in_memory_broker(tmp_path: Path) -> None:
    # Given configured services that do not answer (nothing listens on port 1)
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/larder",
        "RABBITMQ_URL": "amqp://guest:guest@127.0.0.1:1/%2F",
        "LARDER_QUEUE_PREFIX": "",
        "LARDER_LOG_LEVEL": "CRITICAL",
    }
    larder = Path(sys.executable).parent / "larder"
    # When the demo runs, in a fresh directory
    result = subprocess.run(
        [str(larder), "demo", "--users", "50", "--venues", "10", "--days", "5"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    # Then it says which fallbacks it took, and the world landed with the bad messages rejected
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "Postgres did not answer: using embedded Postgres" in out
    assert "RabbitMQ did not answer: using Dramatiq's in-memory broker" in out
    counts = dict(
        line.split()
        for line in out.split("what landed in Postgres:")[1].split("\n\n")[0].strip().splitlines()
    )
    assert int(counts["users"]) == 50 and int(counts["venues"]) == 10
    assert int(counts["orders"]) > 0 and int(counts["rejected_messages"]) == 2
    assert "invalid message: venue.upserted.rating" in out
    # And it trained the items model and precomputed personal lists through the queue
    assert "trained model recs-" in out
    assert "chunks done, 0 failed" in out
    lists = {line.split()[0]: line for line in out.split("precomputed lists")[1].splitlines()[1:]}
    assert "personal" in lists["discovery"] and "personal" in lists["items"]
    assert (tmp_path / ".larder" / "pgdata").is_dir()
