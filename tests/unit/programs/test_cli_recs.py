"""The CLI reads the surface registry: choices, help, and the README's table."""

from __future__ import annotations

from click.testing import CliRunner

from domain.recs.surfaces import BY_NAME
from programs.cli import main
from programs.cli.recs import surfaces_table
from tests.support.paths import ROOT


def test_surface_choices_come_from_the_registry() -> None:
    result = CliRunner().invoke(main, ["recs", "show", "1", "--surface", "nope"])
    assert result.exit_code == 2
    for name in BY_NAME:
        assert name in result.output


def test_the_readme_lists_exactly_the_registrys_surfaces() -> None:
    # Given the table `larder recs surfaces` prints from the registry
    table = surfaces_table()
    # Then the README holds it as it is (regenerate: larder recs surfaces)
    assert table in (ROOT / "README.md").read_text(encoding="utf-8")


def test_ids_past_bigint_are_refused_at_the_cli() -> None:
    result = CliRunner().invoke(main, ["recs", "refresh", "99999999999999999999"])
    assert result.exit_code == 2 and "99999999999999999999" in result.output
