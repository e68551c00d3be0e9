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
    production(monkeypatch)
    assert Settings().env == "production"


def production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LARDER_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db.internal/larder")
    monkeypatch.setenv("RABBITMQ_URL", "amqp://app:x@mq.internal/%2F")


def test_signatures_are_required_in_production_and_optional_in_development(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given no setting: development verifies what is signed but takes unsigned messages
    assert Settings().signatures_required is False
    # When LARDER_ENV=production, they are required; an explicit setting overrides either
    production(monkeypatch)
    assert Settings().signatures_required is True
    monkeypatch.setenv("LARDER_SIGNATURES", "optional")  # a fleet moving to signed messages
    assert Settings().signatures_required is False


def test_a_process_that_must_verify_refuses_to_start_without_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workers.broker import build

    production(monkeypatch)
    with pytest.raises(RuntimeError, match="no signing key is set"):
        build(Settings())
    # And the in-memory broker (the embedded demo's) cannot carry signatures
    monkeypatch.setenv("LARDER_SIGNING_KEYS", "k1:" + "s" * 32)
    monkeypatch.setenv("LARDER_BROKER", "stub")
    with pytest.raises(RuntimeError, match="in-memory broker"):
        build(Settings())


def test_signing_keys_come_from_a_file_several_at_once_and_retired_ones_drop_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given three keys in a mounted secret file, the oldest retired
    secret = tmp_path / "keys"
    secret.write_text(f"new:{'n' * 32}\nold:{'o' * 32},older:{'x' * 32}\n")
    monkeypatch.setenv("LARDER_SIGNING_KEYS_FILE", str(secret))
    monkeypatch.setenv("LARDER_RETIRED_KEY_IDS", "older")
    monkeypatch.setenv("LARDER_SIGNING_KEY_QUEUES", '{"old": ["events"]}')
    settings = Settings()
    # Then the process signs with the first, verifies the two others, refuses the retired one
    ring = settings.keyring()
    assert ring.signing_id == "new" and set(ring.keys) == {"new", "old"}
    assert ring.retired == {"older"} and ring.workloads == {"old": {"events"}}
    # And no key shows in the settings' repr
    assert "nnnn" not in repr(settings) and "oooo" not in repr(settings)


def test_malformed_keys_stop_the_process_without_showing_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LARDER_SIGNING_KEYS", "k1:short-secret")
    with pytest.raises(ValidationError) as error:
        Settings()
    assert "short-secret" not in str(error.value)


def test_production_never_opens_the_read_api_and_hides_docs_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().docs_served is True
    production(monkeypatch)
    assert Settings().docs_served is False
    monkeypatch.setenv("LARDER_API_OPEN_READS", "true")
    with pytest.raises(ValidationError, match="never opens the read API"):
        Settings()
