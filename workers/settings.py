"""Settings, read once at start-up from the environment (or `*_FILE` secret files).

Defaults exist only for local development: with LARDER_ENV=production, the service URLs
must be set explicitly. Secrets are SecretStr and never logged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, AwareDatetime, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
DEV_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/larder"
_SECRETS = ("rabbitmq_url", "database_url", "sentry_dsn")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LARDER_", extra="ignore", frozen=True)

    env: Literal["development", "test", "production"] = "development"
    rabbitmq_url: SecretStr = Field(
        SecretStr(DEV_RABBITMQ_URL), validation_alias=AliasChoices("RABBITMQ_URL")
    )
    database_url: SecretStr = Field(
        SecretStr(DEV_DATABASE_URL), validation_alias=AliasChoices("DATABASE_URL")
    )
    sentry_dsn: SecretStr | None = Field(None, validation_alias=AliasChoices("SENTRY_DSN"))
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
    # Order-problem checks: the rules file (TOML or JSON; built-in defaults when unset) and the
    # clock they judge by. A speed other than 1 runs a scaled clock (simulations only, see
    # workers/clock.py): now = epoch + (real now - epoch) x speed, the same in every process.
    rules_file: Path | None = None
    clock_speed: float = Field(1.0, gt=0, le=3600)
    clock_epoch: AwareDatetime = datetime(2026, 1, 1, tzinfo=UTC)

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, values: dict[str, object]) -> dict[str, object]:
        import os

        for name in _SECRETS:
            path = os.environ.get(f"{name.upper()}_FILE")
            if path:
                values[name.upper()] = Path(path).read_text().strip()
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
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
