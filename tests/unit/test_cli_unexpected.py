"""An unexpected error on the command line is one sentence that says to run with -v for
details; with -v its traceback is there (it was logged below -v's level, so -v showed nothing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.infrastructure import cli_env

# The command line with the node's construction failing in a way no handler expects.
FAILING = """
import sys
import services.cli.common as common
from services.cli import run

def fails(*args, **kwargs):
    raise RuntimeError("no handler expects this")

common.build_node = fails
sys.argv = ["caseledger", *sys.argv[1:]]
run()
"""


def cases(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", FAILING, *options, "cases", "--as", "MX", "--no-sync"],
        env=cli_env(CASELEDGER_DATA_DIR=str(tmp_path)),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_verbose_shows_what_the_sentence_promises(tmp_path: Path) -> None:
    quiet, verbose = cases(tmp_path), cases(tmp_path, "-v")
    sentence = "error: unexpected RuntimeError; run with -v for details"
    assert (quiet.returncode, quiet.stderr.strip()) == (1, sentence)
    assert verbose.returncode == 1
    assert sentence in verbose.stderr
    assert "Traceback" in verbose.stderr and "no handler expects this" in verbose.stderr
