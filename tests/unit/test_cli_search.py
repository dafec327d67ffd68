"""`caseledger cases --as J --search ... [filters] --json`: the case list searched, filtered and
paged from the command line, errors naming the option."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.infrastructure import cli_env


def caseledger(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = cli_env()
    env["CASELEDGER_DATA_DIR"] = str(tmp_path / "data")
    return subprocess.run(
        [sys.executable, "-c", "from services.cli import run; run()", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def report(tmp_path: Path, given: str, first: str, nationality: str, born: str) -> None:
    done = caseledger(
        tmp_path,
        "report",
        *("--given-names", given, "--first-surname", first, "--sex", "female"),
        *("--nationality", nationality, "--date-of-birth", born),
        *("--last-seen-date", "2026-01-20", "--last-seen-country", "MX"),
        *("--consent", "search", "--consent-explained-by", "Fiscalía: Ana Ruiz", "--consent-language", "es"),
    )
    assert done.returncode == 0, done.stderr


def test_cases_search_filters_and_pages_as_json_and_as_text(tmp_path: Path) -> None:
    report(tmp_path, "María Guadalupe", "Ramírez", "GT", "1991-02-03")
    report(tmp_path, "Concepción", "Xicará", "GT", "1985-06-07")
    report(tmp_path, "Lupe", "Ramires", "SV", "2015-06-07")  # a minor: no name in any list

    done = caseledger(tmp_path, "cases", "--as", "MX", "--search", "Lupita Ramirez", "--json")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert [c["given_names"] for c in listed] == ["María Guadalupe"]
    assert 0.8 <= listed[0]["score"] <= 1 and listed[0]["nationalities"] == ["GT"]

    text = caseledger(tmp_path, "cases", "--as", "MX", "--search", "CONCHA XICARA")
    assert text.returncode == 0, text.stderr
    assert "Concepción Xicará" in text.stdout and "Ramírez" not in text.stdout
    assert "{'" not in text.stdout and "\\u" not in text.stdout

    filtered = caseledger(tmp_path, "cases", "--as", "MX", "--nationality", "SV", "--json")
    assert [c["given_names"] for c in json.loads(filtered.stdout)] == [None]

    first = caseledger(tmp_path, "cases", "--as", "MX", "--limit", "2", "--json")
    assert len(json.loads(first.stdout)) == 2 and "2 of 3 cases; next page: --cursor " in first.stderr
    cursor = first.stderr.rsplit("--cursor ", 1)[1].strip()
    rest = caseledger(tmp_path, "cases", "--as", "MX", "--limit", "2", "--cursor", cursor, "--json")
    assert rest.returncode == 0, rest.stderr
    ids = [c["case_id"] for c in json.loads(first.stdout) + json.loads(rest.stdout)]
    assert len(set(ids)) == 3


def test_bad_search_options_are_named(tmp_path: Path) -> None:
    for args, named in (
        (("--limit", "0"), "--limit"),
        (("--cursor", "nonsense"), "--cursor"),
        (("--last-seen-from", "2026-02-01", "--last-seen-to", "2026-01-01"), "--last-seen-to"),
        (("--age-band", "old"), "--age-band"),
        (("--search", "de los"), "--search"),
    ):
        done = caseledger(tmp_path, "cases", "--as", "MX", "--no-sync", *args)
        assert done.returncode != 0 and done.stderr.startswith(f"error: {named}: "), done.stderr
        assert "Traceback" not in done.stderr
