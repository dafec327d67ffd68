"""`caseledger report` lists possible duplicates; `caseledger candidates --json` prints the API's
objects (README, #14 item 8); bad asks are one sentence naming the option."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ledger.access_rules import SAMPLE_POLICY
from tests.infrastructure import cli_env

KEYS = ["kind", "left", "right", "left_ref", "right_ref", "score", "explanation"]


def caseledger(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = cli_env(CASELEDGER_DATA_DIR=str(tmp_path / "data"), CASELEDGER_ACCESS_RULES=str(SAMPLE_POLICY))
    return subprocess.run(
        [sys.executable, "-c", "from services.cli import run; run()", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def report(tmp_path: Path, given: str, first: str, second: str, *more: str) -> tuple[str, str]:
    done = caseledger(
        tmp_path,
        "report",
        *("--given-names", given, "--first-surname", first, "--second-surname", second),
        *("--sex", "female", "--nationality", "HN", "--date-of-birth", "1990-04-02"),
        *("--last-seen-date", "2026-02-03", "--last-seen-country", "MX"),
        *("--consent", "search", "--consent-explained-by", "Fiscalía: Ana Ruiz", "--consent-language", "es"),
        *("--organisation", "mx-fiscalia-migrantes", *more),
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[1], done.stdout


def test_report_lists_the_earlier_report_and_candidates_prints_the_json_objects(tmp_path: Path) -> None:
    first, said = report(tmp_path, "María José", "Pérez", "Gutiérrez")
    assert "possible duplicates" not in said
    stranger, said = report(tmp_path, "Wendy", "Tzul", "Coc")
    assert "possible duplicates" not in said  # the control
    second, said = report(tmp_path, "Maria Jose", "Perez", "Gutierrez")
    assert "possible duplicates you may see (1):" in said and first in said and stranger not in said

    batch = caseledger(tmp_path, "candidates", "--as", "mx-fiscalia-migrantes", "--json")
    assert batch.returncode == 0, batch.stderr
    (pair,) = json.loads(batch.stdout)
    assert (
        list(pair) == KEYS
        and pair["kind"] == "duplicate"
        and {pair["left"], pair["right"]} == {first, second}
    )
    assert 0.9 <= pair["score"] <= 1 and pair["left_ref"] is None and pair["right_ref"] is None
    assert all(list(e) == ["field", "comparison", "weight"] for e in pair["explanation"])
    one = caseledger(tmp_path, "candidates", "--as", "MX", "--case", first, "--min-score", "0.9", "--json")
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout) == [pair]
    none = caseledger(tmp_path, "candidates", "--as", "MX", "--case", stranger, "--json")
    assert json.loads(none.stdout) == []

    judged = caseledger(
        tmp_path, "distinct", first, second, "--reason", "two cousins", "--as", "mx-fiscalia-migrantes"
    )
    assert judged.returncode == 0, judged.stderr
    again = caseledger(tmp_path, "candidates", "--as", "mx-fiscalia-migrantes", "--json")
    assert again.returncode == 0 and json.loads(again.stdout) == []


def test_bad_asks_are_one_sentence_naming_the_option(tmp_path: Path) -> None:
    first, _ = report(tmp_path, "María José", "Pérez", "Gutiérrez")
    for args, message in (
        (["--min-score", "1.5"], "--min-score: 1.5 is not between 0 and 1"),
        (["--remains", first], "--remains: remains have candidates of kind am_pm"),
        (["--kind", "am_pm", "--remains", first], "forensic roles only"),
        (["--kind", "am_pm", "--remains", first, "--role", "forensic_expert"], "--remains: remains"),
        (["--kind", "am_pm", "--remains", "x1", "--role", "forensic_expert"], "is not a remains id"),
        (["--case", "00000000-0000-4000-8000-000000000009"], "not recorded at this node"),
        (["--case", "nonsense"], "is not a case id"),
    ):
        done = caseledger(tmp_path, "candidates", "--as", "MX", *args, "--json")
        status = 4 if "not recorded" in message else 2  # not found, else usage (README)
        assert done.returncode == status and message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    refused = caseledger(tmp_path, "candidates", "--as", "gt-consulado-tapachula", "--case", first, "--json")
    assert refused.returncode == 3 and "refused and recorded" in refused.stderr
    assert "María" not in refused.stderr + refused.stdout
