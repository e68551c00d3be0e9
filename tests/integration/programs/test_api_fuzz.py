"""The HTTP API fuzzed from its own OpenAPI spec (schemathesis): for every operation, with a key
holding every scope and without credentials, no 5xx and no response that breaks its declared
schema. Runs against the real store, seeded so that lists, carts and problems exist."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from domain.security.rates import RateLimits
from programs.http.app import create_app
from programs.http.security import Access, KeySnapshot
from tests.integration.programs import test_http as seeds
from tests.integration.programs import test_inbox
from tests.support.api import keyed

CHECKS = [not_a_server_error, response_schema_conformance]
FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same cases every run: CI failures reproduce
    suppress_health_check=list(HealthCheck),
)
now = test_inbox.now  # the inbox's fixtures: a fixed clock, two open problems
two_problems = test_inbox.two_problems


@pytest.fixture
def api_schema(db: Any, two_problems: Any) -> Any:
    """The app's spec, on an app over a seeded store (no rate limit in the way)."""
    seeds.city(db)
    for venue_id in (1, 2):
        seeds.venue(db, venue_id, hours=seeds.TEN_TO_TEN)
    for item_id in (10, 11, 12):
        seeds.item(db, item_id, 1)
    seeds.user(db, 1)
    seeds.user_list(db, 1, "discovery", 0, [1, 2])
    seeds.user_list(db, 1, "items", 1, [10, 11])
    seeds.fallback(db, 0, "discovery", 0, [2, 1])
    seeds.fallback(db, 0, "cart", 10, [11, 12])
    seeds.fallback(db, 0, "items", 1, [12, 11, 10])
    access = Access(KeySnapshot(db, 5.0), RateLimits(1e6, 10**6), open_reads=False)
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(db, access=access))


def fuzz(schema: Any, headers: dict[str, str] | None) -> list[str]:
    """Every operation, valid and invalid inputs (GenerationMode.POSITIVE, NEGATIVE); the
    failures, one line each."""
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7  # every endpoint of the spec, not a subset
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @FUZZ
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                run()
            except Unsatisfiable:  # nothing to make invalid (/healthz takes no input)
                assert mode is GenerationMode.NEGATIVE
            except Exception as error:
                failures.append(f"{operation.label} ({mode.value}): {error}".splitlines()[0])
    return failures


def test_every_operation_with_every_scope(api_schema: Any, db: Any) -> None:
    assert fuzz(api_schema, keyed(db, "fuzzer")) == []


def test_every_operation_without_credentials(api_schema: Any) -> None:
    assert fuzz(api_schema, None) == []
