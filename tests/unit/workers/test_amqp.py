"""TLS options parse into connection parameters (AMQP) or pass through untouched (Postgres)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from store.db import sqlalchemy_url
from workers import amqp


def test_amqps_verifies_the_broker_and_its_name() -> None:
    params = amqp.parameters("amqps://app:pw@mq.internal:5671/%2F")
    assert params.ssl_options is not None
    context = params.ssl_options.context
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert params.ssl_options.server_hostname == "mq.internal" and params.port == 5671


def test_tls_files_need_amqps_and_a_certificate_needs_its_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not amqps"):
        amqp.parameters("amqp://app:pw@mq/%2F", ca_file=tmp_path / "ca.pem")
    with pytest.raises(ValueError, match="both"):
        amqp.parameters("amqps://app:pw@mq/%2F", cert_file=tmp_path / "c.pem")


def test_postgres_tls_options_reach_libpq_untouched() -> None:
    url = "postgresql://app@db.internal/larder?sslmode=verify-full&sslrootcert=/etc/ca.pem"
    assert sqlalchemy_url(url).endswith("?sslmode=verify-full&sslrootcert=/etc/ca.pem")
    parsed = conninfo_to_dict(url)
    assert parsed["sslmode"] == "verify-full" and parsed["sslrootcert"] == "/etc/ca.pem"
