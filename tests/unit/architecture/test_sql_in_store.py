"""SQL runs only in store/: no module above it calls a database cursor's execute / copy, nor
passes a string of SQL to anything (the import contract in pyproject.toml keeps the named
queries themselves inside store/; this keeps ad-hoc SQL from growing beside them)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.support.paths import ROOT

ABOVE_STORE = ("programs", "actors", "workers", "domain", "synthetic", "schemas")
DATABASE_CALLS = {"execute", "executemany", "exec_driver_sql", "copy"}
SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM"
    r"|(CREATE|DROP|ALTER)\s+(TABLE|DATABASE|INDEX|ROLE)|TRUNCATE\s+\w|COPY\s+\w+\s+FROM)\b",
    re.S,
)


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [f"{path.relative_to(ROOT)}:{o}" for node in ast.walk(tree) for o in _offence(node)]


def _offence(node: ast.AST) -> list[str]:
    """What a node does that only store/ may: call a database method, hold SQL."""
    line = getattr(node, "lineno", 0)
    call = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    if call and node.func.attr in DATABASE_CALLS:  # type: ignore[attr-defined]
        return [f"{line} calls .{node.func.attr}()"]  # type: ignore[attr-defined]
    text = node.value if isinstance(node, ast.Constant) else None
    return [f"{line} holds SQL"] if isinstance(text, str) and SQL.search(text) else []


def test_no_sql_above_the_store() -> None:
    offences = [
        offence
        for package in ABOVE_STORE
        for path in sorted((ROOT / package).rglob("*.py"))
        for offence in _offences(path)
    ]
    assert offences == []


def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text('conn.execute("SELECT 1")\nq = "DELETE FROM users"\n')
    (found,) = {o.split(" ", 1)[1] for o in _offences_relative(bad) if "calls" in o}
    assert found == "calls .execute()"
    assert any("holds SQL" in o for o in _offences_relative(bad))


def _offences_relative(path: Path) -> list[str]:
    text = path.read_text()
    copy = ROOT / "tests" / "unit" / "architecture" / "_scan_probe.py"
    copy.write_text(text)
    try:
        return _offences(copy)
    finally:
        copy.unlink()
