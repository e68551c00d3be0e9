"""An open-loop HTTP load generator that measures the server, not itself.

Request i is due at start + i / rate, whatever happened before; its latency runs from when it
was due to when its whole response was read, so a stalled server (or client) is counted, not
hidden (coordinated omission accounted for). The generator runs in a process of its own, on
one thread, over keep-alive connections and one `select(2)` loop (microsecond timeouts:
`epoll` and `poll` round theirs up to the next millisecond, which sent requests ~0.5 ms late
on average): no GIL shared with the benchmark's process, no hand-offs between client threads
(the earlier client ran eight threads in the benchmark's own process). What the client itself
adds is reported beside the latencies: `lateness`, how long after its due time each request
went out.

A request that finds every connection busy waits for one, still timed from its due time.
"""

from __future__ import annotations

import json
import selectors
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Run:
    """What one open-loop run measured: per request, seconds from due to answered and from due
    to sent; the achieved rate; how many answers were not 200."""

    latencies: list[float]
    lateness: list[float]
    rate: float
    errors: int


def open_loop(
    port: int,
    paths: Sequence[str],
    rate: float,
    headers: dict[str, str] | None = None,
    connections: int = 8,
) -> Run:
    """GET each of `paths` on 127.0.0.1:`port`, open loop at `rate` per second, from a child
    process (`python -m benchmarks.load`) over `connections` keep-alive connections."""
    job = {"port": port, "paths": list(paths), "rate": rate, "headers": headers or {}}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.load"],
        input=json.dumps({**job, "connections": connections}),
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed: {done.stderr.strip()[-2000:]}")
    return Run(**json.loads(done.stdout))


@dataclass
class _Connection:
    sock: socket.socket
    request: int = -1  # the index of the request in flight, -1 when idle
    received: bytearray = field(default_factory=bytearray)


def _drive(
    port: int, paths: list[str], rate: float, headers: dict[str, str], connections: int
) -> Run:
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    requests = [
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}\r\n".encode() for path in paths
    ]
    selector = selectors.SelectSelector()  # microsecond timeouts, few sockets
    idle = [_connect(port, selector) for _ in range(connections)]
    count = len(requests)
    latencies, lateness = [0.0] * count, [0.0] * count
    waiting: deque[int] = deque()
    start = time.perf_counter() + 0.1
    due, answered, errors = 0, 0, 0
    while answered < count:
        now = time.perf_counter()
        while due < count and start + due / rate <= now:
            waiting.append(due)
            due += 1
        while waiting and idle:
            connection, index = idle.pop(), waiting.popleft()
            connection.request = index
            connection.sock.sendall(requests[index])
            lateness[index] = time.perf_counter() - (start + index / rate)
        timeout = None if due >= count else max(0.0, start + due / rate - time.perf_counter())
        for key, _ in selector.select(timeout):
            connection = key.data
            status = _receive(connection)
            if status is None:
                continue
            index = connection.request
            latencies[index] = time.perf_counter() - (start + index / rate)
            errors += status != 200
            answered += 1
            connection.request = -1
            idle.append(connection)
    finished = time.perf_counter()
    for key in list(selector.get_map().values()):
        key.fileobj.close()  # type: ignore[union-attr]
    selector.close()
    return Run(latencies, lateness, count / (finished - start), errors)


def _connect(port: int, selector: selectors.BaseSelector) -> _Connection:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    connection = _Connection(sock)
    selector.register(sock, selectors.EVENT_READ, connection)
    return connection


def _receive(connection: _Connection) -> int | None:
    """Read what has arrived; the status once the whole response is in (None until then).
    Responses carry a Content-Length (the server sends no chunked bodies here)."""
    data = connection.sock.recv(1 << 16)
    if not data:
        raise ConnectionError("the server closed a keep-alive connection")
    connection.received += data
    head_end = connection.received.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = bytes(connection.received[:head_end]).decode("latin-1").split("\r\n")
    length = 0
    for line in head[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if len(connection.received) < head_end + 4 + length:
        return None
    del connection.received[: head_end + 4 + length]
    return int(head[0].split(" ", 2)[1])


def main() -> None:
    """The child: the job as JSON on stdin, the `Run` as JSON on stdout."""
    job = json.load(sys.stdin)
    run = _drive(job["port"], job["paths"], job["rate"], job["headers"], job["connections"])
    json.dump(run.__dict__, sys.stdout)


if __name__ == "__main__":
    main()
