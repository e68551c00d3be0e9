"""Settings: read from the environment, secrets never shown, no dev defaults in production."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from workers.settings import DEV_DATABASE_URL, Settings


def test_secrets_are_not_shown_in_repr_or_str(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:hunter2@db/larder")
    settings = Settings()
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings)
    assert settings.database_url.get_secret_value().endswith("@db/larder")


def test_secret_can_come_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "rabbit"
    secret.write_text("amqp://app:s3cret@mq:5672/%2F\n")
    monkeypatch.setenv("RABBITMQ_URL_FILE", str(secret))
    assert Settings().rabbitmq_url.get_secret_value() == "amqp://app:s3cret@mq:5672/%2F"


def test_production_refuses_development_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LARDER_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", DEV_DATABASE_URL)
    with pytest.raises(ValidationError, match="production needs"):
        Settings()


def test_production_accepts_explicit_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LARDER_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db.internal/larder")
    monkeypatch.setenv("RABBITMQ_URL", "amqp://app:x@mq.internal/%2F")
    assert Settings().env == "production"
