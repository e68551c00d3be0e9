from __future__ import annotations

from pathlib import Path

from benchmarks.short import WHAT, recorded, verdict


def test_every_short_ratio_has_its_figure_in_the_readme() -> None:
    # Given the README's "Benchmarks, short" section / When its table is read
    figures = recorded()
    # Then every ratio bench-short prints has a recorded figure to be compared with
    assert set(figures) == set(WHAT)
    assert all(value > 0 for value in figures.values())


def test_a_table_after_a_paragraph_is_still_found(tmp_path: Path) -> None:
    # Given a section whose table follows two paragraphs
    readme = tmp_path / "README.md"
    readme.write_text(
        "### Benchmarks, short\n\nOne.\n\nTwo.\n\n| ratio | what | short run |\n|---|---|---|\n"
        "| `refresh` | users/s | 0.25 |\n\n## Tests\n\n| `orders` | x | 9 |\n"
    )
    # When it is read / Then the table's figure is found and the next section's is not
    assert recorded(readme) == {"refresh": 0.25}
    assert verdict(0.1, 0.25).startswith("DROP")
