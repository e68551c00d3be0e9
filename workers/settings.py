"""Settings, read once at start-up from the environment (or `*_FILE` secret files).

Defaults exist only for local development: with LARDER_ENV=production, the service URLs
must be set explicitly. Secrets are SecretStr and never logged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, AwareDatetime, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.security.limits import PayloadLimits
from domain.security.signing import Keyring, Verification, parse_keys
from schemas import MAX_BATCH

DEV_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
DEV_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/larder"
# Each may come from a file instead: `<NAME>_FILE` (mounted secrets).
_SECRETS = ("RABBITMQ_URL", "DATABASE_URL", "API_DATABASE_URL", "SENTRY_DSN", "LARDER_SIGNING_KEYS")


def _secret(alias: str, default: str | None = None) -> Any:
    value = None if default is None else SecretStr(default)
    return Field(value, validation_alias=AliasChoices(alias))


class Settings(BaseSettings):
    # hide_input_in_errors: a malformed secret must not show in the error that refuses it
    model_config = SettingsConfigDict(
        env_prefix="LARDER_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    env: Literal["development", "test", "production"] = "development"
    rabbitmq_url: SecretStr = _secret("RABBITMQ_URL", DEV_RABBITMQ_URL)
    database_url: SecretStr = _secret("DATABASE_URL", DEV_DATABASE_URL)
    # The HTTP API's own role, for the inbox's agent actions and API key lookups (reads of
    # lists go through DATABASE_URL, the reader role); unset: DATABASE_URL.
    api_database_url: SecretStr | None = _secret("API_DATABASE_URL")
    sentry_dsn: SecretStr | None = _secret("SENTRY_DSN")
    broker: Literal["rabbitmq", "stub"] = "rabbitmq"
    queue_prefix: str = Field("", pattern=r"^[a-zA-Z0-9_.-]*$")
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    prometheus: bool = False
    db_pool_size: int = Field(10, ge=1, le=200)
    max_message_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    time_limit_ms: int = Field(10 * 60 * 1000, ge=1000, le=20 * 60 * 1000)
    min_backoff_ms: int = Field(500, ge=10)
    max_backoff_ms: int = Field(60_000, ge=100, le=5 * 60 * 1000)
    max_retries_unexpected: int = Field(5, ge=0)
    # `larder intake publish`, `larder simulate world`: how long to wait for RabbitMQ to confirm
    publish_retry_s: float = Field(120.0, ge=0)
    # Message signatures (docs/security.md): `id:secret,...`; the process signs with
    # `signing_key_id` (default: the first key); retired ids are refused; a key listed in
    # `signing_key_queues` ({"id": ["events", ...]}) may sign only for those workloads.
    signing_keys: SecretStr | None = _secret("LARDER_SIGNING_KEYS")
    signing_key_id: str | None = None
    retired_key_ids: str = ""
    signing_key_queues: dict[str, list[str]] = {}
    signatures: Literal["required", "optional"] | None = None  # None: required in production
    signature_max_age_s: int = Field(24 * 3600, ge=60, le=30 * 24 * 3600)
    # Payload limits, checked before a body is parsed (each its own reason)
    max_batch_events: int = Field(MAX_BATCH, ge=1, le=MAX_BATCH)
    max_string_chars: int = Field(2000, ge=100, le=1_000_000)
    max_list_items: int = Field(1000, ge=10, le=1_000_000)
    # A producer's RabbitMQ user may not declare queues: it publishes to the workers' queues
    declare_queues: bool = True
    # AMQP over TLS (`amqps://` URLs): the CA that signed the broker's certificate (default:
    # the system's), and a client certificate and key when the broker asks for one.
    amqp_ca_file: Path | None = None
    amqp_cert_file: Path | None = None
    amqp_key_file: Path | None = None
    # The HTTP API (docs/security.md)
    api_open_reads: bool = False  # lists readable without a key: local experiments only
    api_docs: bool | None = None  # /docs and /openapi.json; None: on unless production
    api_rate_per_s: float = Field(50.0, gt=0, le=100_000)
    api_rate_burst: int = Field(100, ge=1, le=1_000_000)
    api_max_body_bytes: int = Field(16 * 1024, ge=1024, le=16 * 1024 * 1024)
    api_key_refresh_s: float = Field(5.0, ge=0.1, le=300)
    # Postgres roles made by `larder db roles`: <prefix>owner, worker, reader, api
    db_role_prefix: str = Field("larder_", pattern=r"^[a-z_][a-z0-9_]{0,40}$")
    # Dead letters: rejected bodies kept this long (RabbitMQ keeps a dead-letter queue's
    # copies 7 days), or stored redacted (length and digest only).
    dead_letter_retention_days: int = Field(7, ge=1, le=3650)
    dead_letter_bodies: Literal["keep", "redact"] = "keep"
    # Order-problem checks: the rules file (TOML or JSON; built-in defaults when unset) and the
    # clock they judge by. A speed other than 1 runs a scaled clock (simulations only, see
    # workers/clock.py): now = epoch + (real now - epoch) x speed, the same in every process.
    rules_file: Path | None = None
    clock_speed: float = Field(1.0, gt=0, le=3600)
    clock_epoch: AwareDatetime = datetime(2026, 1, 1, tzinfo=UTC)
    # The banners surface (domain/recs/banners.py): pseudo-impressions a coarser level of the
    # hierarchical prior lends a finer one, the share of orderings served uniformly at random
    # (what makes unbiased offline replay possible), posterior draws per (city, segment) group.
    banner_prior_strength: float = Field(20.0, gt=0, le=1_000_000)
    banner_random_share: float = Field(0.05, ge=0, le=1)
    banner_draws: int = Field(32, ge=1, le=1000)
    # Which stored surfaces a refresh ranks, comma-separated (empty: all; the benchmarks
    # compare the four list surfaces with all seven in one run). A surface left out keeps no row.
    refresh_surfaces: str = ""
    banner_stats_max_age_s: float = Field(10.0, ge=0.05, le=3600)  # per-process statistics cache

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, values: dict[str, object]) -> dict[str, object]:
        import os

        for alias in _SECRETS:
            path = os.environ.get(f"{alias}_FILE")
            if path:
                values[alias] = Path(path).read_text().strip()
        return values

    @model_validator(mode="after")
    def _no_dev_defaults_in_production(self) -> Settings:
        if self.env == "production":
            dev = {DEV_RABBITMQ_URL, DEV_DATABASE_URL}
            urls = (self.rabbitmq_url.get_secret_value(), self.database_url.get_secret_value())
            if any(url in dev for url in urls):
                raise ValueError("production needs RABBITMQ_URL and DATABASE_URL set explicitly")
            if self.clock_speed != 1.0:
                raise ValueError("production runs on the real clock (LARDER_CLOCK_SPEED=1)")
            if self.api_open_reads:
                raise ValueError("production never opens the read API (LARDER_API_OPEN_READS)")
        self.keyring()  # malformed keys stop the process here, with a reason
        return self

    @property
    def signatures_required(self) -> bool:
        if self.signatures is None:
            return self.env == "production"
        return self.signatures == "required"

    @property
    def docs_served(self) -> bool:
        return self.env != "production" if self.api_docs is None else self.api_docs

    def keyring(self) -> Keyring:
        """The signing keys (read from LARDER_SIGNING_KEYS or its file)."""
        keys = parse_keys(self.signing_keys.get_secret_value()) if self.signing_keys else {}
        retired = frozenset(k.strip() for k in self.retired_key_ids.split(",") if k.strip())
        signing_id = self.signing_key_id or next((k for k in keys if k not in retired), None)
        return Keyring(
            keys={k: v for k, v in keys.items() if k not in retired},
            signing_id=signing_id,
            retired=retired,
            workloads={k: frozenset(v) for k, v in self.signing_key_queues.items()},
        )

    def verification(self) -> Verification:
        return Verification(
            self.keyring(), self.signatures_required, self.signature_max_age_s * 1000
        )

    def payload_limits(self) -> PayloadLimits:
        return PayloadLimits(self.max_batch_events, self.max_string_chars, self.max_list_items)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
