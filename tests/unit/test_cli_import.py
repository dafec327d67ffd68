"""`caseledger import`: a template to start from, refused rows in an error report (CSV or
JSON) and a non-zero exit, a refused file named in one sentence with nothing imported."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner

from services.cli import main


def invoke(tmp_path: Path, *args: str) -> object:
    env = {"CASELEDGER_NODE": "MX", "CASELEDGER_DATA_DIR": str(tmp_path / "data")}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_a_template_imports_and_refused_rows_go_to_the_error_report(tmp_path: Path) -> None:
    made = invoke(tmp_path, "import", "--template", "reports", "--dir", str(tmp_path))
    assert made.exit_code == 0 and (tmp_path / "reports-mapping.toml").exists()  # type: ignore[attr-defined]
    sample = (tmp_path / "reports-sample.csv").read_text(encoding="utf-8")
    (tmp_path / "bad.csv").write_text(sample.replace("30/07/1999", "31/02/1999"), encoding="utf-8")
    mapping = str(tmp_path / "reports-mapping.toml")
    for report in ("refused.json", "refused.csv"):
        ran = invoke(
            tmp_path,
            "import",
            "reports",
            str(tmp_path / "bad.csv"),
            "--mapping",
            mapping,
            "--errors",
            str(tmp_path / report),
        )
        assert ran.exit_code == 1  # type: ignore[attr-defined]
        assert "row 3, column 'Fecha de nacimiento': date_of_birth: '31/02/1999' is not a date" in ran.output  # type: ignore[attr-defined]
    [listed] = json.loads((tmp_path / "refused.json").read_text(encoding="utf-8"))
    assert (listed["row"], listed["external_ref"], listed["column"]) == (3, "A-0002", "Fecha de nacimiento")
    [row] = list(csv.DictReader((tmp_path / "refused.csv").open(encoding="utf-8")))
    assert row["problem"] == "'31/02/1999' is not a date: no such day"
    good = invoke(tmp_path, "import", "reports", str(tmp_path / "reports-sample.csv"), "--mapping", mapping)
    assert good.exit_code == 0  # type: ignore[attr-defined]
    assert "2 rows from albergue-ejemplo: 1 recorded, 0 amended, 1 unchanged, 0 refused" in good.output  # type: ignore[attr-defined]


def test_a_refused_file_is_one_sentence_and_nothing_is_imported(tmp_path: Path) -> None:
    invoke(tmp_path, "import", "--template", "remains", "--dir", str(tmp_path))
    (tmp_path / "latin.csv").write_bytes(
        (tmp_path / "remains-sample.csv").read_text(encoding="utf-8").encode("cp1252")
    )
    ran = invoke(
        tmp_path,
        "import",
        "remains",
        str(tmp_path / "latin.csv"),
        "--mapping",
        str(tmp_path / "remains-mapping.toml"),
    )
    assert ran.exit_code == 2  # type: ignore[attr-defined]
    assert (
        "line 1: byte 0xED at position 32 is not utf-8" in ran.output and "nothing was imported" in ran.output
    )  # type: ignore[attr-defined]
    asked = invoke(
        tmp_path,
        "import",
        "remains",
        str(tmp_path / "latin.csv"),
        "--mapping",
        str(tmp_path / "remains-mapping.toml"),
        "--encoding",
        "cp1252",
    )
    assert asked.exit_code == 0 and "2 recorded" in asked.output  # type: ignore[attr-defined]
