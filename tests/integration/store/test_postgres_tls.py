"""Postgres over TLS, end to end: a cluster of its own that speaks only TLS, with a certificate
of a throwaway CA; larder's database layer connects with `sslmode=verify-full`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from store.db import Database
from tests.conftest import IN_CI
from tests.support import tls


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[tls.Authority, int]]:
    reason = tls.missing()
    if reason is not None:
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(f"!!! SKIPPED: {reason}")
    ca = tls.authority(tmp_path_factory.mktemp("ca"))
    with tls.postgres_tls_cluster(ca) as port:
        yield ca, port


def url(port: int, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"postgresql://postgres@localhost:{port}/postgres?{query}"


def test_verify_full_connects_over_tls_through_larders_database_layer(
    cluster: tuple[tls.Authority, int],
) -> None:
    ca, port = cluster
    # Given DATABASE_URL as docs/security.md writes it: verify-full against the CA
    database = Database(url(port, sslmode="verify-full", sslrootcert=str(ca.ca)), 1)
    try:
        # When larder's unit of work runs a statement / Then the session is encrypted
        with database.unit_of_work(single_statement=True) as uow:
            encrypted = uow.connection.execute(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
            ).fetchone()
        assert encrypted == (True,)
    finally:
        database.dispose()


def test_a_server_the_ca_did_not_sign_or_a_plaintext_connection_is_refused(
    cluster: tuple[tls.Authority, int], tmp_path: Path
) -> None:
    _, port = cluster
    other = tls.authority(tmp_path / "other", "some other CA")
    # A certificate the configured CA did not sign: verification fails
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(url(port, sslmode="verify-full", sslrootcert=str(other.ca))).close()
    # The server's name must match its certificate (verify-full checks the host name): the
    # right server under another name is refused
    with pytest.raises(psycopg.OperationalError, match="does not match host name"):
        psycopg.connect(
            f"host=db.example hostaddr=127.0.0.1 port={port} user=postgres dbname=postgres"
            f" sslmode=verify-full sslrootcert={cluster[0].ca}"
        ).close()
    # And the server takes no plaintext connection
    with pytest.raises(psycopg.OperationalError, match=r"no encryption|pg_hba"):
        psycopg.connect(url(port, sslmode="disable")).close()
