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
    # (and no XDG_RUNTIME_DIR, as in CI or a container; logs as text, INFO and up)
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/larder",
        "RABBITMQ_URL": "amqp://guest:guest@127.0.0.1:1/%2F",
        "LARDER_QUEUE_PREFIX": "",
        "LARDER_LOG_LEVEL": "INFO",
        "LARDER_LOG_FORMAT": "text",
    }
    env.pop("XDG_RUNTIME_DIR", None)
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
    # Then it says which fallbacks it took, then which database it uses and that it creates it
    assert result.returncode == 0, result.stderr[-3000:]
    out, err = result.stdout, result.stderr
    first = out.split("published")[0].splitlines()
    assert first[:2] == [
        "Postgres did not answer: using embedded Postgres in .larder/pgdata",
        "RabbitMQ did not answer: using Dramatiq's in-memory broker",
    ]
    assert first[2].startswith("Postgres: database 'larder' at postgresql://")
    assert first[2].endswith("(created if missing, then migrated)")
    assert "database 'larder' created and migrated" in first
    # And it says what it published, the bad messages on purpose, counted right
    assert " 1 message\n" in out and "published 2 bad messages on purpose" in out
    # And the table of what landed comes after the lists were computed: models and lists too
    assert out.index("trained model") < out.index("what landed in Postgres:")
    counts = dict(
        line.split()
        for line in out.split("what landed in Postgres:")[1].split("\n\n")[0].strip().splitlines()
    )
    assert int(counts["users"]) == 50 and int(counts["venues"]) == 10
    assert int(counts["orders"]) > 0 and int(counts["rejected_messages"]) == 2
    assert int(counts["model_versions"]) == 1 and int(counts["recommendations"]) > 0
    assert "invalid message: venue.upserted.rating" in out
    # And the log reads the bad messages as expected rejections: a WARNING with the reason
    # each, no ERROR, no traceback, and no warning about XDG_RUNTIME_DIR
    assert "Traceback" not in err and " ERROR " not in err, err[-3000:]
    assert "XDG_RUNTIME_DIR" not in err and "RuntimeDirWarning" not in err
    warnings = [line for line in err.splitlines() if " WARNING " in line]
    assert any("dead-lettered" in w and "unknown actor: no_such_actor" in w for w in warnings)
    assert any("dead-lettered" in w and "invalid message: venue.upserted" in w for w in warnings)
    # And it trained the items model and precomputed personal lists through the queue
    assert "trained model recs-" in out
    assert "chunks done, 0 failed" in out
    shown = out.split("precomputed lists")[1].split("\n\n")[0]
    lists = {line.split()[0]: line for line in shown.splitlines()[1:]}
    assert "personal" in lists["discovery"] and "personal" in lists["items"]
    assert (tmp_path / ".larder" / "pgdata").is_dir()
    # And it ends with an API key for the HTTP API and how to use it (keys are required)
    key_part = out.split("\nAPI key ")[1]
    assert "larder keys revoke" in key_part and 'curl -H "Authorization: Bearer lk_' in key_part
