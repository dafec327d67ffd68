"""Bulk import of a registry's file, the same on the embedded default and on PostgreSQL:
rows checked as commands, refused rows reported and the rest recorded, a second run
recording nothing, a changed row an amendment, a refused file leaving nothing behind, and a
run killed midway finishing on the next without duplicates or gaps."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from ledger.case import MissingPersonCase
from ledger.commands import Actor
from services.bootstrap import Node, build_node
from services.import_files import FileRefused, import_file
from services.import_mapping import ImportMapping, MappingRefused
from services.import_templates import TEMPLATES
from services.importing import RowResult
from services.settings import Settings
from tests.infrastructure import ROOT, cli_env, interruptible
from tests.network import keyed

CASEWORKER = Actor("Casa del Migrante", "caseworker")
HEADER = ["Folio", "Nombres", "Primer apellido", "Sexo", "Nacionalidad", "Fecha", "País", "Lugar"]
MAPPING = """
kind = "reports"
source = "albergue-prueba"
reference = "Folio"
date_format = "%d/%m/%Y"
[columns]
"Nombres" = "given_names"
"Primer apellido" = "first_surname"
"Sexo" = "sex"
"Nacionalidad" = "nationalities"
"Fecha" = "last_seen_date"
"País" = "last_seen_country"
"Lugar" = "last_seen_place"
[values]
nationalities = "countries:es"
last_seen_country = "countries:es"
[constants]
consented_purposes = ["search"]
consent_explained_by = "Casa del Migrante: registro"
consent_language = "es"
[values.sex]
M = "male"
Masculino = "male"
F = "female"
"""


def row(ref: str, name: str = "José", **changes: str) -> list[str]:
    cells = {
        "Folio": ref,
        "Nombres": name,
        "Primer apellido": "Hernández",
        "Sexo": "Masculino",
        "Nacionalidad": "Honduras",
        "Fecha": "14/03/2026",
        "País": "México",
        "Lugar": "Tenosique",
        **changes,
    }
    return [cells[h] for h in HEADER]


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8", header: list[str] = HEADER) -> Path:
    with path.open("w", encoding=encoding, newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def stored(node: Node) -> int:
    """The last notification id: cheap to poll, but PostgreSQL's sequence leaves gaps where a
    killed transaction took ids, so counts are taken with recorded()."""
    return int(node.ledger.recorder.max_notification_id() or 0)


def recorded(node: Node) -> int:
    """How many events the store holds (no gaps counted)."""
    return len(node.ledger.recorder.select_notifications(1, 1_000_000))


class ImportContract:
    CLI_OPTIONS: tuple[
        str, ...
    ] = ()  # more options for the CLI's runs (tests/contracts/test_import_workers.py)

    @pytest.fixture
    def settings(self) -> Settings:
        raise NotImplementedError

    @pytest.fixture
    def node(self, settings: Settings) -> Iterator[Node]:
        node = build_node(settings)
        yield node
        node.close()

    @pytest.fixture
    def mapping(self, tmp_path: Path) -> ImportMapping:
        (tmp_path / "mapping.toml").write_text(MAPPING, encoding="utf-8")
        return ImportMapping.load(tmp_path / "mapping.toml", "reports")

    def run(
        self, node: Node, path: Path, mapping: ImportMapping, **kwargs: Any
    ) -> tuple[Any, list[RowResult]]:
        rows: list[RowResult] = []
        summary = import_file(
            node.ledger, path, mapping, recorded_by=CASEWORKER, on_row=rows.append, **kwargs
        )
        return summary, rows

    def test_rows_become_cases_that_keep_their_reference_and_source(
        self, node: Node, mapping: ImportMapping, tmp_path: Path
    ) -> None:
        path = write_csv(tmp_path / "casos.csv", [row("A-1"), row("A-2", "María", Sexo="F")])
        summary, rows = self.run(node, path, mapping)
        assert summary.counts == {"recorded": 2}
        assert [r.row for r in rows] == [2, 3]
        case = node.ledger.get_case(__import__("uuid").UUID(rows[0].record_id))
        assert case.person["given_names"] == "José" and case.person["nationalities"] == ["HN"]
        assert case.last_seen["country"] == "MX" and str(case.last_seen["date"]) == "2026-03-14"
        [reported] = [
            e for e in node.ledger.events.get(case.id) if isinstance(e, MissingPersonCase.CaseReported)
        ]
        assert reported.imported_from == {"source": "albergue-prueba", "reference": "A-1"}
        node.sync("MX")
        # Of unknown age, so listed at the public tier only (the stricter reading).
        shown = sorted((r.sex, r.nationalities, r.last_seen_country) for r in node.views("MX").cases())
        assert shown == [("female", ("HN",), "MX"), ("male", ("HN",), "MX")]

    def test_the_same_file_again_records_nothing(
        self, node: Node, mapping: ImportMapping, tmp_path: Path
    ) -> None:
        path = write_csv(tmp_path / "casos.csv", [row(f"A-{n}") for n in range(7)])
        self.run(node, path, mapping, batch_size=3)
        before = stored(node)
        summary, _ = self.run(node, path, mapping, batch_size=3)
        assert summary.counts == {"unchanged": 7} and stored(node) == before == 7

    def test_a_changed_row_amends_what_changed_and_makes_no_second_case(
        self, node: Node, mapping: ImportMapping, tmp_path: Path
    ) -> None:
        self.run(node, write_csv(tmp_path / "v1.csv", [row("A-1"), row("A-2")]), mapping)
        changed = write_csv(tmp_path / "v2.csv", [row("A-1", "José Ángel", Lugar="Palenque"), row("A-2")])
        summary, rows = self.run(node, changed, mapping)
        assert summary.counts == {"amended": 1, "unchanged": 1}
        case = node.ledger.get_case(__import__("uuid").UUID(rows[0].record_id))
        assert (case.person["given_names"], case.last_seen["place"], case.version) == (
            "José Ángel",
            "Palenque",
            2,
        )
        [amended] = [e for e in node.ledger.events.get(case.id) if type(e).__name__ == "DataAmended"]
        assert sorted(c["field"] for c in amended.changes) == ["last_seen.place", "person.given_names"]
        again, _ = self.run(node, changed, mapping)
        assert again.counts == {"unchanged": 2} and stored(node) == 3
        # A field no amendment may change is refused on its column, and nothing is recorded.
        sex, rows = self.run(node, write_csv(tmp_path / "v3.csv", [row("A-2", Sexo="F")]), mapping)
        assert sex.counts == {"refused": 1} and (rows[0].column, rows[0].field) == ("Sexo", "sex")
        assert stored(node) == 3

    def test_bad_rows_are_reported_by_row_and_column_and_the_rest_go_in(
        self, node: Node, mapping: ImportMapping, tmp_path: Path
    ) -> None:
        rows_in = [
            row("A-1"),
            row("A-2", Fecha="31/02/2020"),  # a day that does not exist
            row("A-3", Sexo="X"),
            row("A-4", Nombres=""),
            row("A-5", País="Narnia"),
            row("A-6"),
            row("A-7"),
            row("A-6", "Pedro"),  # a reference given twice: neither is imported
        ]
        summary, rows = self.run(node, write_csv(tmp_path / "casos.csv", rows_in), mapping)
        assert summary.counts == {"recorded": 2, "refused": 6}
        refused = {r.row: (r.column, r.problem) for r in rows if r.outcome == "refused"}
        assert refused[3] == ("Fecha", "'31/02/2020' is not a date: no such day")
        assert refused[4][0] == "Sexo" and "male" in refused[4][1]
        assert refused[5][0] == "Nombres"
        assert refused[6][0] == "País" and "Narnia" in refused[6][1]
        assert refused[7][0] == refused[9][0] == "Folio" and "rows (7, 9)" in refused[7][1]
        assert sorted(r.external_ref for r in rows if r.outcome == "recorded") == ["A-1", "A-7"]
        assert stored(node) == 2

    def test_an_unknown_column_in_the_mapping_refuses_the_file_before_anything_is_written(
        self, node: Node, mapping: ImportMapping, tmp_path: Path
    ) -> None:
        header = [h if h != "Lugar" else "Localidad" for h in HEADER]
        path = write_csv(tmp_path / "casos.csv", [row("A-1")], header=header)
        with pytest.raises(MappingRefused, match=r"Lugar.*no such column"):
            self.run(node, path, mapping)
        assert stored(node) == 0

    def test_a_file_that_mixes_encodings_is_refused_whole(
        self, node: Node, mapping: ImportMapping, tmp_path: Path
    ) -> None:
        path = write_csv(tmp_path / "casos.csv", [row(f"A-{n}") for n in range(600)])
        with path.open("ab") as out:  # a row saved by another program, in Windows-1252
            out.write(",".join(row("B-1", "Inés")).encode("cp1252") + b"\r\n")
        with pytest.raises(FileRefused, match=r"byte 0xE9 .* not utf-8.*mixes encodings") as refused:
            self.run(node, path, mapping, batch_size=100)
        assert refused.value.field == "line 602"
        assert stored(node) == 0  # not even the 600 good rows before it

    def test_windows_1252_when_asked_and_utf8_with_a_bom(
        self, node: Node, mapping: ImportMapping, tmp_path: Path
    ) -> None:
        latin = write_csv(tmp_path / "latin.csv", [row("A-1", "Inés", País="Panamá")], encoding="cp1252")
        with pytest.raises(FileRefused, match="not utf-8"):
            self.run(node, latin, mapping)
        summary, rows = self.run(node, latin, mapping, encoding="cp1252")
        assert summary.counts == {"recorded": 1}
        assert (
            node.ledger.get_case(__import__("uuid").UUID(rows[0].record_id)).person["given_names"] == "Inés"
        )
        bom = write_csv(tmp_path / "bom.csv", [row("A-2", "Ángel")], encoding="utf-8-sig")
        assert self.run(node, bom, mapping)[0].counts == {"recorded": 1}
        utf8_read_as_latin = write_csv(tmp_path / "u.csv", [row("A-3", "Inés")])
        with pytest.raises(FileRefused, match="holds UTF-8 text"):
            self.run(node, utf8_read_as_latin, mapping, encoding="cp1252")

    def test_an_xlsx_workbook_imports_like_a_csv(
        self, node: Node, mapping: ImportMapping, tmp_path: Path
    ) -> None:
        from datetime import datetime

        book = Workbook()
        sheet = book.active
        sheet.append(HEADER)
        sheet.append([101, "Ana", "Pérez", "F", "Guatemala", datetime(2026, 1, 5), "México", "Arriaga"])
        sheet.append([102, "Luis", "Pérez", "M", "El Salvador", "31/02/2020", "México", "Arriaga"])
        book.save(tmp_path / "casos.xlsx")
        summary, rows = self.run(node, tmp_path / "casos.xlsx", mapping)
        assert summary.counts == {"recorded": 1, "refused": 1}
        assert rows[0].external_ref == "101" and rows[1].column == "Fecha"
        case = node.ledger.get_case(__import__("uuid").UUID(rows[0].record_id))
        assert str(case.last_seen["date"]) == "2026-01-05" and case.person["nationalities"] == ["GT"]

    def test_the_templates_import_as_they_are(self, node: Node, tmp_path: Path) -> None:
        for kind, (mapping_text, sample) in TEMPLATES.items():
            (tmp_path / f"{kind}.toml").write_text(mapping_text, encoding="utf-8")
            (tmp_path / f"{kind}.csv").write_text(sample, encoding="utf-8")
            mapping = ImportMapping.load(tmp_path / f"{kind}.toml", kind)
            actor = CASEWORKER if kind == "reports" else Actor("SEMEFO", "forensic_expert")
            summary = import_file(node.ledger, tmp_path / f"{kind}.csv", mapping, recorded_by=actor)
            assert summary.counts == {"recorded": 2}, summary.refused

    @pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "Ctrl-C"])
    def test_an_import_killed_midway_finishes_on_the_next_run(
        self, node: Node, settings: Settings, tmp_path: Path, stop: signal.Signals
    ) -> None:
        total = 3000
        path = write_csv(tmp_path / "casos.csv", [row(f"K-{n}", f"Nombre{n}") for n in range(total)])
        (tmp_path / "mapping.toml").write_text(MAPPING, encoding="utf-8")
        command = [
            sys.executable,
            "-c",
            "from services.cli import run; run()",
            "import",
            "reports",
            str(path),
            "--mapping",
            str(tmp_path / "mapping.toml"),
            "--batch-size",
            "50",
            *self.CLI_OPTIONS,
        ]
        env = cli_env(**environment(settings))
        pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        process = subprocess.Popen(command, env=env, cwd=ROOT, **pipes, preexec_fn=interruptible)
        deadline = time.monotonic() + 120
        while stored(node) < 300 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        os.kill(process.pid, stop)
        _, stderr = process.communicate(timeout=120)
        if stop == signal.SIGINT:
            assert process.returncode == 130 and b"run the same command again" in stderr, stderr
        midway = recorded(node)
        assert 0 < midway < total, "the run was not killed midway"
        finished = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert finished.returncode == 0, finished.stderr
        assert f"{total} rows" in finished.stdout and "0 refused" in finished.stdout
        assert recorded(node) == total  # one CaseReported per row: no duplicate, no gap
        refs = set()
        for notification in node.ledger.recorder.select_notifications(1, total + 10):
            refs.add(notification.originator_id)
        assert len(refs) == total


def environment(settings: Settings) -> dict[str, str]:
    env = {
        "CASELEDGER_NODE": settings.node,
        "CASELEDGER_DATA_DIR": str(settings.data_dir),
        "CASELEDGER_MASTER_KEY": settings.master_key.get_secret_value() if settings.master_key else "",
        "CASELEDGER_NODE_KEY": str(settings.node_key),
        "CASELEDGER_RECIPIENT_KEY": str(settings.recipient_key),
        "CASELEDGER_KEY_REGISTRY": str(settings.key_registry),
    }
    if settings.database_url:
        env.update(
            CASELEDGER_DATABASE_URL=settings.database_url,
            CASELEDGER_KAFKA_BOOTSTRAP=settings.kafka_bootstrap or "",
            CASELEDGER_TOPIC_PREFIX=settings.topic_prefix,
        )
    return {k: v for k, v in env.items() if v}


class TestEmbeddedImport(ImportContract):
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        plain = Settings(node="MX", data_dir=tmp_path / "data", kafka_bootstrap=None, database_url=None)
        return keyed({"MX": plain}, tmp_path / "keys")["MX"]


@pytest.mark.integration
class TestPostgresImport(ImportContract):
    @pytest.fixture
    def settings(self, tmp_path: Path, kafka_bootstrap: str, database_url: str, unique: str) -> Settings:
        plain = Settings(
            node="MX",
            data_dir=tmp_path / "data",
            kafka_bootstrap=kafka_bootstrap,
            database_url=database_url,
            topic_prefix=f"t{unique}.",
        )
        return keyed({"MX": plain}, tmp_path / "keys")["MX"]
