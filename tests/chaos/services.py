"""Private RabbitMQ and Postgres instances for the fault tests: they stop, kill and restart
these, never the machine's shared services (other test sessions use those)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.support.paths import ROOT

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
RABBITMQ_CONF = ROOT / "infra" / "k8s" / "base" / "rabbitmq" / "rabbitmq.conf"
DEFINITIONS = ROOT / "infra" / "k8s" / "base" / "rabbitmq" / "definitions.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(check: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} within {timeout_s:g} s")
        time.sleep(0.1)


def postgres_bin() -> Path | None:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


def missing() -> str | None:
    """Why private services cannot run here, or None."""
    if not (RABBITMQ_BIN / "rabbitmq-server").exists():
        return "RabbitMQ is not installed (bash infra/services.sh --install)"
    if postgres_bin() is None:
        return "PostgreSQL server binaries are not installed (bash infra/services.sh --install)"
    return None


class PrivatePostgres:
    """A Postgres cluster in a temporary directory, on a free port, owned by the `postgres`
    user when run as root (Postgres refuses root)."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        assert self.bin is not None
        self.dir = Path(tempfile.mkdtemp(prefix="larder-chaos-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self._as_postgres = os.getuid() == 0
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        conf = self.data / "postgresql.conf"
        with conf.open("a") as handle:
            handle.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.dir}'\nmax_connections = 200\n"
                "shared_buffers = 128MB\n"
            )

    @property
    def server_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str) -> None:
        assert self.bin is not None
        command = [str(self.bin / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd=self.dir)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "start")
        wait_until(lambda: answers(self.port), 30, "Postgres did not answer")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRabbitMQ:
    """A RabbitMQ node of its own (`chaos-<id>@localhost`): data, logs, config and Erlang cookie
    in a temporary directory, on free ports, with larder's rabbitmq.conf (consumer_timeout,
    watermarks) and, once up, larder's definitions (queues, dead-letter queues, policies)
    imported through the management API, as in production."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="larder-chaos-rmq-"))
        self.port, self.dist_port, self.management_port = free_port(), free_port(), free_port()
        self.node = f"chaos-{os.getpid()}-{self.port}@localhost"
        conf = RABBITMQ_CONF.read_text().replace("15672", str(self.management_port))
        conf += f"\nlisteners.tcp.default = {self.port}\nmanagement.tcp.ip = 127.0.0.1\n"
        (self.dir / "rabbitmq.conf").write_text(conf)
        (self.dir / "enabled_plugins").write_text("[rabbitmq_management].\n")
        self.env = {
            **os.environ,
            "HOME": str(self.dir),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.dir / "pid"),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def start(self) -> None:
        log = (self.dir / "server.log").open("ab")
        self.process = subprocess.Popen(
            [str(RABBITMQ_BIN / "rabbitmq-server")],
            env=self.env,
            cwd=self.dir,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        wait_until(self._ready, 60, "RabbitMQ did not answer")

    def _ready(self) -> bool:
        if not answers(self.port):
            return False
        from workers.services import rabbitmq_answers

        return rabbitmq_answers(self.url, timeout=1)

    def import_definitions(self) -> None:
        """What the larder-rabbitmq-definitions Job does: POST the definitions."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.management_port}/api/definitions",
            data=DEFINITIONS.read_bytes(),
            headers={"content-type": "application/json", "authorization": "Basic Z3Vlc3Q6Z3Vlc3Q="},
            method="POST",
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    assert response.status in (200, 201, 204)
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def ctl(self, *args: str) -> str:
        done = subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.node, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.stdout

    def stop(self) -> None:
        """A clean stop, as a rolling restart or a node maintenance does."""
        self.ctl("stop")
        if self.process is not None:
            self.process.wait(timeout=60)
        wait_until(lambda: not answers(self.port), 30, "RabbitMQ did not stop")

    def restart(self) -> float:
        started = time.monotonic()
        self.stop()
        self.start()
        return time.monotonic() - started

    def remove(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                self.stop()
            except Exception:
                os.killpg(self.process.pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)

    def purge_all(self) -> None:
        """Empty every queue (between tests)."""
        for line in self.ctl("list_queues", "-q", "name").splitlines():
            name = line.strip()
            if name and name != "name":
                self.ctl("purge_queue", name)
