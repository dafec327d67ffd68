"""The linters are part of the suite: ruff over everything, mypy --strict on every package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_is_clean() -> None:
    lint = run(sys.executable, "-m", "ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    layout = run(sys.executable, "-m", "ruff", "format", "--check", ".")
    assert layout.returncode == 0, layout.stdout + layout.stderr


def test_mypy_strict_on_every_package() -> None:
    checked = run(sys.executable, "-m", "mypy", "ledger", "topics", "projections", "services")
    assert checked.returncode == 0, checked.stdout + checked.stderr
