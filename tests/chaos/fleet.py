"""larder's processes for the fault tests, started as the Procfile starts them (`larder worker
POOL`, `larder scheduler`), on the private services; killed and restarted by the tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from tests.chaos.services import free_port
from tests.support.paths import ROOT

BIN = Path(sys.executable).parent


@dataclass
class Process:
    name: str
    command: list[str]
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, number: int) -> None:
        """To every process of its group (SIGKILL: a node or pod lost at once)."""
        if self.alive():
            os.killpg(self.popen.pid, number)

    def terminate(self) -> None:
        """SIGTERM to the main process only, as Kubernetes and Docker send it to a container's
        PID 1 (`larder worker` execs dramatiq's main process, which forwards it once to its
        worker processes; a second SIGTERM to a worker process, as a signal to the whole group
        would add, makes Dramatiq kill it at once)."""
        if self.alive():
            os.kill(self.popen.pid, signal.SIGTERM)

    def wait(self, timeout_s: float) -> float:
        """Seconds until it exited (raises TimeoutExpired past `timeout_s`)."""
        started = time.monotonic()
        self.popen.wait(timeout=timeout_s)
        return time.monotonic() - started

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Fleet:
    database_url: str
    rabbitmq_url: str
    scratch: Path
    extra: dict[str, str] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)

    def env(self, **more: str) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
            "DATABASE_URL": self.database_url,
            "RABBITMQ_URL": self.rabbitmq_url,
            "LARDER_QUEUE_PREFIX": "",  # a RabbitMQ of its own: the production queue names
            "LARDER_ENV": "test",
            "LARDER_LOG_FORMAT": "text",
            "LARDER_LOG_LEVEL": "INFO",
            "LARDER_MIN_BACKOFF_MS": "200",
            "LARDER_MAX_BACKOFF_MS": "5000",
            "OPENBLAS_NUM_THREADS": "1",
            **self.extra,
            **more,
        }

    def start(self, name: str, *command: str, **env: str) -> Process:
        log = self.scratch / f"{name}-{len(self.processes)}.log"
        with log.open("ab") as handle:
            popen = subprocess.Popen(
                list(command),
                cwd=ROOT,
                env=self.env(**env),
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = Process(name, list(command), popen, log)
        self.processes.append(process)
        return process

    def worker(self, pool: str, **env: str) -> Process:
        """`larder worker POOL`, the Procfile's pool line (metrics on a free port)."""
        metrics = {
            "PROMETHEUS_MULTIPROC_DIR": str(self.scratch / f"prom-{pool}-{len(self.processes)}"),
            "dramatiq_prom_host": "127.0.0.1",
            "dramatiq_prom_port": str(free_port()),
        }
        return self.start(pool, "larder", "worker", pool, **{**metrics, **env})

    def scheduler(self, *options: str, **env: str) -> Process:
        return self.start("scheduler", "larder", "scheduler", *options, **env)

    def run(
        self, *command: str, timeout_s: float = 300, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """A command to its end (a publisher, `larder recs train`)."""
        return subprocess.run(
            list(command),
            cwd=ROOT,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def stop_all(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.signal(signal.SIGKILL)
                process.wait(30)


def query(url: str, sql: str, *params: Any) -> Any:
    """The first column of the first row."""
    with psycopg.connect(url) as connection:
        row = connection.execute(sql, params or None).fetchone()
    return None if row is None else row[0]


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as connection:
        return list(connection.execute(sql).fetchall())


def wait_for(check: Any, timeout_s: float, what: str, interval_s: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout_s
    value = check()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s (last: {value!r})")
        time.sleep(interval_s)
        value = check()
    return value
