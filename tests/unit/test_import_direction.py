"""Imports point one way: services -> projections, topics, ledger; projections -> topics,
ledger; topics -> ledger, schemas; ledger imports none of them (the design document, DESIGN.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ledger", "topics", "projections", "services", "schemas")
ALLOWED = {
    "ledger": set(),
    "schemas": set(),
    "topics": {"ledger", "schemas"},
    "projections": {"topics", "ledger", "schemas"},
    "services": {"projections", "topics", "ledger", "schemas"},
}
# Only topics/ may talk to Kafka; the domain touches no infrastructure at all.
FORBIDDEN_THIRD_PARTY = {
    "ledger": {"kafka", "fastavro", "psycopg", "fastapi", "click"},
    "projections": {"kafka"},
    "services": {"kafka"},
}


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def violations(package: str, root: Path = ROOT) -> list[str]:
    problems = []
    for path in sorted((root / package).rglob("*.py")):
        for name in imported_top_levels(path):
            if name in PACKAGES and name != package and name not in ALLOWED[package]:
                problems.append(f"{path.relative_to(root)} imports {name}")
            if name in FORBIDDEN_THIRD_PARTY.get(package, set()):
                problems.append(f"{path.relative_to(root)} imports {name}")
    return sorted(problems)


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_one_way(package: str) -> None:
    assert (ROOT / package / "__init__.py").exists()
    assert violations(package) == []


def test_the_check_catches_a_wrong_way_import(tmp_path: Path) -> None:
    (tmp_path / "ledger").mkdir()
    (tmp_path / "ledger" / "bad.py").write_text("from topics.relay import Relay\nimport kafka\n")
    assert violations("ledger", tmp_path) == ["ledger/bad.py imports kafka", "ledger/bad.py imports topics"]
