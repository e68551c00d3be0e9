"""TLS in tests: a throwaway certificate authority (openssl), a TLS-terminating proxy in front
of a plaintext service, and a Postgres cluster of its own that speaks only TLS."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

POSTGRES_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))


def missing() -> str | None:
    """Why these tests cannot run here, or None."""
    if shutil.which("openssl") is None:
        return "openssl is not installed"
    if not POSTGRES_BIN or os.geteuid() != 0 or shutil.which("runuser") is None:
        return "a second Postgres cluster needs Debian's postgresql binaries and root (runuser)"
    return None


@dataclass(frozen=True)
class Authority:
    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    def pair(self, name: str) -> tuple[Path, Path]:
        return self.directory / f"{name}.pem", self.directory / f"{name}.key"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def authority(directory: Path, name: str = "larder test CA") -> Authority:
    """A CA, a server certificate for localhost / 127.0.0.1 and a client certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", f"/CN={name}", cwd=directory)  # fmt: skip
    sans = {
        "server": "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "client": "extendedKeyUsage=clientAuth",
    }
    for cert, extension in sans.items():
        _openssl("req", *ec, "-keyout", f"{cert}.key", "-out", f"{cert}.csr",
                 "-subj", f"/CN={'localhost' if cert == 'server' else 'larder-worker'}", cwd=directory)  # fmt: skip
        (directory / f"{cert}.ext").write_text(extension + "\n")
        _openssl("x509", "-req", "-in", f"{cert}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{cert}.pem", "-days", "2",
                 "-extfile", f"{cert}.ext", cwd=directory)  # fmt: skip
    for key in directory.glob("*.key"):
        key.chmod(0o600)
    return Authority(directory)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def tls_proxy(ca: Authority, target_port: int, require_client_cert: bool = True) -> Iterator[int]:
    """A TLS server on a free port that forwards each connection, decrypted, to
    127.0.0.1:`target_port` (as a TLS-terminating load balancer in front of RabbitMQ would),
    asking clients for a certificate signed by the CA. Yields its port."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca.ca))
    context.load_cert_chain(*map(str, ca.pair("server")))
    context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_NONE
    port = free_port()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", target_port
            )
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, ssl=context)
        ready.set()
        async with server:
            await stop.wait()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(5)
        loop.close()


@contextmanager
def postgres_tls_cluster(ca: Authority) -> Iterator[int]:
    """A Postgres cluster of its own (initdb into a temporary directory user postgres can
    reach) that accepts only TLS connections from 127.0.0.1, with the CA's server certificate.
    Yields its port; the cluster and its directory go afterwards."""
    bin_dir = POSTGRES_BIN[-1]
    directory = Path(tempfile.mkdtemp(prefix="larder-pg-tls-"))
    data = directory / "data"
    for name in ("server.pem", "server.key"):
        shutil.copy(ca.directory / name, directory / name)
    subprocess.run(["chown", "-R", "postgres:postgres", str(directory)], check=True)
    (directory / "server.key").chmod(0o600)

    def as_postgres(*args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True, timeout=120
        )

    as_postgres(
        str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"
    )
    (data / "pg_hba.conf").write_text(
        "local all all trust\n"
        "hostssl all all 127.0.0.1/32 trust\n"
        "hostnossl all all 127.0.0.1/32 reject\n"
    )
    port = free_port()
    options = (
        f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={directory}"
        f" -c ssl=on -c ssl_cert_file={directory / 'server.pem'}"
        f" -c ssl_key_file={directory / 'server.key'} -c fsync=off"
    )
    as_postgres(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(directory / "log"),
        "-w",
        "start",
    )
    try:
        yield port
    finally:
        as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(directory, ignore_errors=True)
