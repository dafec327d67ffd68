"""An unexpected error on the command line is one sentence that says to run with -v for
details; with -v, where it arose is there (it was logged below -v's level, so -v showed
nothing), but never its message: a message may quote a value, and -v promises no personal data."""

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
    raise RuntimeError("no handler expects Yesenia Cruz, born 1994-10-10") from KeyError("Cruz")

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
    assert "builtins.RuntimeError (message withheld)" in verbose.stderr
    assert "in fails" in verbose.stderr  # the frame where it arose
    assert "caused by builtins.KeyError (message withheld)" in verbose.stderr
    assert "Yesenia" not in verbose.stderr and "1994" not in verbose.stderr and "Cruz" not in verbose.stderr
