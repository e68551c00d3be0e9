"""AMQP connection parameters: the URL, plus TLS for `amqps://` URLs (the CA that signed the
broker's certificate, a client certificate when the broker asks for one)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pika


def parameters(
    url: str,
    ca_file: Path | None = None,
    cert_file: Path | None = None,
    key_file: Path | None = None,
) -> pika.URLParameters:
    """Connection parameters for `url`. With `amqps://`, the broker's certificate is verified
    against `ca_file` (else the system's CAs) and its host name checked; `cert_file` and
    `key_file` present a client certificate. TLS options on an `amqp://` URL are an error: a
    CA given for a plaintext connection would silently protect nothing."""
    params = pika.URLParameters(url)
    if params.ssl_options is None:
        if ca_file or cert_file or key_file:
            raise ValueError("TLS files are set but the AMQP URL is not amqps://")
        return params
    params.ssl_options = pika.SSLOptions(tls_context(ca_file, cert_file, key_file), params.host)
    return params


def tls_context(
    ca_file: Path | None, cert_file: Path | None, key_file: Path | None
) -> ssl.SSLContext:
    if (cert_file is None) != (key_file is None):
        raise ValueError("a client certificate needs both its certificate and its key file")
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file and key_file:
        context.load_cert_chain(str(cert_file), str(key_file))
    return context
