"""Registries out: PFIF 1.4 that validates against the specification's RELAX NG schema and
round-trips through an empty node; IOM MMP rows from the public tier with small cells
suppressed; CSV and JSON of the CLI's and the API's lists. And the scan: no exported file
of any kind holds a minor's data or a reserved field's value."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from lxml import etree

from ledger.commands import RecordSighting
from ledger.forensic_commands import RecordRemainsRecovered
from ledger.values import Coordinates, FamilyContact, Place
from services.bootstrap import build_node
from services.cli import main
from services.http.app import create_app
from services.mmp import COLUMNS
from services.pfif_export import PfifExport, ledger_ids, reference_dir
from services.pfif_import import PfifImport
from services.pfif_mapping import ImportOptions
from services.settings import Settings
from services.tokens import TokenStore
from tests.factories import CASEWORKER, FORENSIC, ctx, report

# Values that must never leave in an export: the minor's data, and reserved fields of an adult.
MINOR_NAMES = ("Brayan Alexis", "Quintanilla")
RESERVED = ("+502 5555 0142", "Cruzó con un coyote llamado El Tigre", "Doña Ofelia Testigo", "14.9061")
ADULT = "Marta Lidia"


@dataclass
class Built:
    data_dir: Path
    adult: str
    minor: str
    silent: str  # an adult whose family did not consent to search


def reference() -> Path:
    folder = reference_dir()
    if not (folder / "pfif-1.4.rng").is_file():
        pytest.fail(f"PFIF reference material missing: expected {folder} (../shared/reference/pfif)")
    return folder


@pytest.fixture
def built(tmp_path: Path) -> Iterator[Built]:
    data_dir = tmp_path / "mx"
    node = build_node(Settings(node="MX", data_dir=data_dir))
    contact = (FamilyContact("Rosa Ortiz", "mother", phone=RESERVED[0]),)
    adult = node.ledger.report_missing_person(
        report(
            given_names=ADULT,
            first_surname="Ortiz",
            second_surname="Pérez",
            aliases=("La Güera",),
            family_contacts=contact,
            circumstances=RESERVED[1],
        )
    )
    minor = node.ledger.report_missing_person(
        report(given_names=MINOR_NAMES[0], first_surname=MINOR_NAMES[1], date_of_birth="2012-04-04")
    )
    silent = node.ledger.report_missing_person(
        report(given_names="Sin Consentimiento", consented_purposes=(), consent_explained_by=None)
    )
    for case in (adult, minor):
        node.ledger.record_sighting(
            RecordSighting(
                **ctx(),
                case_id=case,
                seen_on="2026-02-10",
                place=Place("MX", "Albergue Hermanos en el Camino", Coordinates(14.9061, -92.2620)),
                source="shelter",
                source_reliability="high",
                witness=RESERVED[2],
            )
        )
    for n in range(6):
        node.ledger.record_remains_recovered(
            RecordRemainsRecovered(
                **ctx(FORENSIC, "forensic_identification"),
                recovered_on="2026-02-01",
                place=Place("MX", "Ejido La Gloria"),
                context="desert",
                file_number=f"SEMEFO-{n}",
            )
        )
    node.sync("MX")
    node.close()
    yield Built(data_dir, str(adult), str(minor), str(silent))


def cli(built: Built, *args: str) -> str:
    done = CliRunner().invoke(
        main, list(args), env={"CASELEDGER_DATA_DIR": str(built.data_dir), "CASELEDGER_NODE": "MX"}
    )
    assert done.exit_code == 0, done.output
    return done.output


def export_pfif(data_dir: Path, node_name: str = "MX") -> bytes:
    node = build_node(Settings(node=node_name, data_dir=data_dir))
    try:
        node.sync(node_name)
        exporter = PfifExport(
            node.views(node_name), "mx.caseledger.invalid", ledger_ids(node.ledger, node_name)
        )
        return etree.tostring(exporter.document(), encoding="UTF-8", xml_declaration=True, pretty_print=True)
    finally:
        node.close()


def test_pfif_export_validates_and_holds_only_what_may_leave(built: Built, tmp_path: Path) -> None:
    target = tmp_path / "out.xml"
    cli(built, "export", "pfif", "--as", "MX", "--output", str(target))
    schema = etree.RelaxNG(etree.parse(str(reference() / "pfif-1.4.rng")))
    document = etree.parse(str(target))
    assert schema.validate(document), schema.error_log
    text = target.read_text()
    assert ADULT in text and "La Güera" in text and "Albergue Hermanos en el Camino" in text
    assert "Sin Consentimiento" not in text, "the family did not consent to search"
    assert f"case.{built.minor}" not in text and MINOR_NAMES[0] not in text
    assert not [value for value in RESERVED if value in text]


def test_the_schema_check_can_fail() -> None:
    """Control: a person without its required full_name does not validate."""
    schema = etree.RelaxNG(etree.parse(str(reference() / "pfif-1.4.rng")))
    root = etree.fromstring(
        b'<pfif:pfif xmlns:pfif="http://zesty.ca/pfif/1.4"><pfif:person>'
        b"<pfif:person_record_id>a/b</pfif:person_record_id>"
        b"<pfif:source_date>2026-01-01T00:00:00Z</pfif:source_date></pfif:person></pfif:pfif>"
    )
    assert not schema.validate(root)


def test_pfif_round_trips_through_an_empty_node(built: Built, tmp_path: Path) -> None:
    exported = export_pfif(built.data_dir)
    feed = tmp_path / "export.xml"
    feed.write_bytes(exported)
    other = build_node(Settings(node="MX", data_dir=tmp_path / "empty"))
    try:
        options = ImportOptions(
            "Otra Organización",
            consented_purposes=("search",),
            consent_explained_by="Otra Organización: Juan",
            consent_language="es",
        )
        result = PfifImport(other.ledger, options).run(feed)
        assert result.bad == {} and result.refused is None and len(result.recorded) == 2  # person, note
        other.sync("MX")
        [case] = other.views("MX").cases()
        assert (case.given_names, case.first_surname, case.sex) == (ADULT, "Ortiz Pérez", "female")
        assert case.nationalities == ("GT",)
    finally:
        other.close()
    again = export_pfif(tmp_path / "empty")

    def without_recording(document: bytes) -> bytes:
        """Less who recorded each record and, for a person, when: the importer, on import."""
        root = etree.fromstring(document)
        pfif = "{http://zesty.ca/pfif/1.4}"
        for element in [*root.iter(pfif + "author_name"), *root.findall(f"{pfif}person/{pfif}source_date")]:
            element.getparent().remove(element)
        return etree.tostring(root)

    assert without_recording(again) == without_recording(exported), "the same records, ids and fields"
    assert b"case." + built.adult.encode() in again, "the record keeps its id through the copy"


def test_mmp_rows_are_public_counts_with_small_cells_suppressed(built: Built) -> None:
    rows = list(csv.DictReader(io.StringIO(cli(built, "export", "mmp", "--as", "MX"))))
    assert tuple(rows[0]) == COLUMNS
    [dead] = [r for r in rows if r["Number of Dead"]]
    assert dead["Number of Dead"] == "6" and dead["Location of death"] == "desert, Mexico"
    assert re.fullmatch(r"\d{4}-\d\d", dead["Incident Date"]), "the public tier gives the month only"
    assert dead["Year"] == dead["Incident Date"][:4] and dead["Coordinates"] == ""
    missing = [r for r in rows if r["Minimum Estimated Number of Missing"]]
    assert missing and all(r["Minimum Estimated Number of Missing"] == "<5" for r in missing)
    assert dead["Region of Incident"] == "Central America"
    text = cli(built, "export", "mmp", "--as", "MX")
    personal = (
        ADULT,
        "Ortiz",
        "La Güera",
        "Ejido La Gloria",
        "Albergue",
        "SEMEFO",
        "2026-02-10",
        "2026-02-01",
    )
    assert [value for value in (*personal, *RESERVED, *MINOR_NAMES) if value in text] == []
    assert "desert" in text, "the control: the scan reads the rows"


@pytest.mark.parametrize("output_format", ["csv", "json"])
def test_cli_lists_write_csv_and_json_of_the_fields_shown(built: Built, output_format: str) -> None:
    listed = cli(built, "cases", "--as", "MX", "--format", output_format)
    rows = json.loads(listed) if output_format == "json" else list(csv.DictReader(io.StringIO(listed)))
    assert len(rows) == 3
    named = {r["given_names"] for r in rows if r["given_names"]}
    assert named == {ADULT}, "neither a minor's name nor one without consent is listed"
    remains = cli(built, "forensic", "remains", "--as", "MX", "--format", output_format)
    text = cli(built, "forensic", "remains", "--as", "MX")
    if output_format == "json":
        for row in json.loads(remains):  # the same fields the text shows, no more
            shown = {k for k, v in row["state"].items() if v not in (None, [], {})}
            block = text.split(f"{row['aggregate_id']} [MX] v{row['version']} {row['status']};")[1]
            block = re.split(r"\n  (?! )", block)[0]  # up to the next remains
            assert shown and all(f"{key.replace('_', ' ')}: " in block for key in shown)
            assert row["state"]["recovered_on"] in block
    else:
        assert len(list(csv.DictReader(io.StringIO(remains)))) == 6 == text.count("SEMEFO-")
    timeline = cli(built, "timeline", built.adult, "--as", "MX", "--format", output_format)
    assert "SightingRecorded" in timeline and RESERVED[2] not in timeline


def test_the_api_lists_answer_csv_when_asked(built: Built, tmp_path: Path) -> None:
    node = build_node(Settings(node="MX", data_dir=built.data_dir))
    try:
        tokens = TokenStore(tmp_path / "tokens.json")
        token, _ = tokens.issue(CASEWORKER.organisation, "caseworker", None)
        api = TestClient(create_app(node, tokens, catch_up=True))
        headers = {"Authorization": f"Bearer {token}", "X-Purpose": "search"}
        as_json = api.get("/cases", headers=headers)
        as_csv = api.get("/cases", headers={**headers, "Accept": "text/csv"})
        assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(as_csv.text)))
        assert [r["case_id"] for r in rows] == [r["case_id"] for r in as_json.json()]
        assert set(rows[0]) == set(as_json.json()[0]), "exactly the fields the JSON gives"
        refused = api.get("/cases", headers={"X-Purpose": "search", "Accept": "text/csv"})
        assert refused.status_code == 401 and refused.headers["content-type"].startswith("application/json")
        for path in ("/remains", f"/timeline/{built.adult}"):
            answer = api.get(path, headers={**headers, "Accept": "text/csv"})
            assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
            assert not [v for v in (*RESERVED, *MINOR_NAMES) if v in answer.text]
    finally:
        node.close()


def test_no_export_holds_a_minor_or_a_reserved_value(built: Built, tmp_path: Path) -> None:
    """Every export of the node (PFIF, MMP, CSV and JSON lists and timelines) scanned."""
    files = {"pfif": export_pfif(built.data_dir).decode()}
    files["mmp"] = cli(built, "export", "mmp", "--as", "MX")
    for output_format in ("csv", "json"):
        files[f"cases.{output_format}"] = cli(built, "cases", "--as", "MX", "--format", output_format)
        files[f"stats.{output_format}"] = cli(built, "stats", "--as", "MX", "--format", output_format)
        for kind in ("remains", "samples", "matches"):
            files[f"{kind}.{output_format}"] = cli(
                built, "forensic", kind, "--as", "MX", "--format", output_format
            )
        for case in (built.adult, built.minor, built.silent):
            files[f"timeline-{case}.{output_format}"] = cli(
                built, "timeline", case, "--as", "MX", "--format", output_format
            )
    leaks = {name: [v for v in (*RESERVED, *MINOR_NAMES) if v in text] for name, text in files.items()}
    assert {name: found for name, found in leaks.items() if found} == {}
    # Control: the scan finds a value when it is there.
    assert ADULT in files["pfif"] and ADULT in files["cases.json"]
    [cell] = [c for c in json.loads(files["stats.json"]) if c["table"] == "cases_by_month_reported"]
    assert (cell["country"], cell["sex"], cell["count"]) == ("MX", "female", "<5"), "3 cases: suppressed"
