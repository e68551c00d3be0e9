"""`larder simulate orders`: where a run writes is decided before anything connects."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from programs.cli import main
from programs.simulate_orders import own_database_name
from store.server import without_password


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--in-place", "--database-url", "postgresql://h/x"], "pick one"),
        (["--in-place", "--keep-db"], "--keep-db keeps the run's own database"),
        (["--fleet", "running", "--keep-db"], "running fleet's database"),
        (["--fleet", "running", "--database-url", "postgresql://h/x"], "--fleet spawn"),
    ],
)
def test_contradictory_database_options_are_refused(options: list[str], says: str) -> None:
    # Given options that contradict each other / When the command starts / Then it refuses
    # with a usage error (a unit test: nothing was created or connected to)
    result = CliRunner().invoke(main, ["simulate", "orders", *options])
    assert result.exit_code == 2
    assert says in result.output


def test_a_runs_own_database_is_named_after_the_configured_one_within_postgres_limit() -> None:
    assert own_database_name("larder", "0a1b2c") == "larder_sim_0a1b2c"
    long = own_database_name("x" * 80, "0a1b2c")
    assert len(long) == 63 and long.endswith("_sim_0a1b2c")


def test_a_database_url_is_shown_without_its_password() -> None:
    shown = without_password("postgresql://larder:s3cret@db.internal:6432/larder_sim_0a1b2c")
    assert shown == "postgresql://larder@db.internal:6432/larder_sim_0a1b2c"
    assert (
        without_password("postgresql://postgres@127.0.0.1/x") == "postgresql://postgres@127.0.0.1/x"
    )
