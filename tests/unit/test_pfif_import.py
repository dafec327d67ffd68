"""PFIF in: every sample feed of Google Person Finder's tests (read beside the checkout, never
copied), each bad record reported exactly; the mapping of persons and notes; re-imports that
record nothing; files refused whole (malformed, XXE, billion laughs, mixed encodings,
repeated record ids) with nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from ledger.case import MissingPersonCase
from services.bootstrap import Node, build_node
from services.pfif import PFIF_1_4, read_feed
from services.pfif_export import reference_dir
from services.pfif_import import PfifImport
from services.pfif_mapping import ImportOptions
from services.settings import Settings
from tests.infrastructure import cli_env

OPTIONS = ImportOptions(
    "Casa del Migrante",
    consented_purposes=("search",),
    consent_explained_by="Casa del Migrante: Lucía Pérez",
    consent_language="es",
)
T = "test.google.com"
SAMPLE_NOTES = {f"{T}/note.27009", f"{T}/note.31095", f"{T}/note.40121", f"{T}/note.50121"}
# What caseledger refuses in each sample, and why: the samples' contact fields break the
# schema's e-mail and phone types ("_test_author_email"), two notes lack author_name.
EXPECTED_BAD = {
    "tests__global-test.pfif-1.2-source.xml": {"globaltestdomain.com/person.21009"},
    "tests__test.pfif-1.2-badrecord.xml": {f"{T}/person.21009", "foo.google.com/person.666", *SAMPLE_NOTES},
    "tests__test.pfif-1.2-believed-dead.xml": {f"{T}/note.218"},
    "tests__test.pfif-1.2-note.xml": {f"{T}/note.27009", f"{T}/note.31095"},
    "tests__test.pfif-1.2-notification.xml": {f"{T}/note.27009"},
    "tests__test.pfif-1.2-source.xml": {"mytestdomain.com/person.21009"},
    "tests__test.pfif-1.2.xml": {f"{T}/person.21009", *SAMPLE_NOTES},
    "tests__test.pfif-1.4.xml": {f"{T}/person.21009", *SAMPLE_NOTES},
}
REFUSED_FILES = {"tests__test.pfif-1.1.xml": "namespace http://zesty.ca/pfif/1.1 is not PFIF 1.2, 1.3 or 1.4"}


def reference() -> Path:
    """The PFIF reference folder; a clear failure, never a skip, when it is not there."""
    folder = reference_dir()
    if not (folder / "pfif-1.4.rng").is_file():
        pytest.fail(f"PFIF reference material missing: expected {folder} (../shared/reference/pfif)")
    return folder


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    built = build_node(Settings(node="MX", data_dir=tmp_path / "node"))
    yield built
    built.close()


def corrected(text: str) -> str:
    """A sample with the fields the schema refuses made valid, the rest as it was."""
    for bad, good in (
        ("_test_author_email", "author@example.org"),
        ("_test_author_phone", "+1 555 0100"),
        ("inna-testing-number", "+1 555 0101"),
        ("_test_email_of_found_person", "found@example.org"),
        ("_test_phone_of_found_person", "+1 555 0102"),
    ):
        text = text.replace(bad, good)
    for note in ("note.40121", "note.50121"):
        text = text.replace(
            f"<pfif:note_record_id>{T}/{note}",
            f"<pfif:author_name>A. Nónimo</pfif:author_name><pfif:note_record_id>{T}/{note}",
        )
    return text


def events(node: Node) -> int:
    return int(node.ledger.recorder.max_notification_id() or 0)


def test_every_sample_feed_reports_exactly_its_bad_records(node: Node) -> None:
    folder = reference()
    samples = sorted(p.name for p in folder.glob("tests__*.xml"))
    assert set(samples) == set(EXPECTED_BAD) | set(REFUSED_FILES), "the sample set changed"
    importer = PfifImport(node.ledger, OPTIONS)
    for name in samples:
        report = importer.run(folder / name)
        if name in REFUSED_FILES:
            assert report.refused and REFUSED_FILES[name] in report.refused
            continue
        assert report.refused is None, name
        assert set(report.bad) == EXPECTED_BAD[name], name
        for record_id, problems in report.bad.items():
            assert problems and all(": " in p for p in problems), (record_id, problems)
    assert events(node) == 0, "no sample record is valid PFIF 1.4, so nothing is recorded"


def test_the_checker_refuses_what_the_relax_ng_schema_refuses(tmp_path: Path) -> None:
    """Control for the checker: each 1.4 sample record it refuses, lxml's RelaxNG refuses too;
    corrected, both accept it."""
    folder = reference()
    schema = etree.RelaxNG(etree.parse(str(folder / "pfif-1.4.rng")))
    sample = folder / "tests__test.pfif-1.4.xml"

    def verdicts(path: Path) -> list[tuple[bool, bool]]:
        found = []
        for person in read_feed(path):
            for record in [person, *person.notes]:
                root = etree.Element(f"{{{PFIF_1_4}}}pfif", nsmap={"pfif": PFIF_1_4})
                element = etree.SubElement(root, f"{{{PFIF_1_4}}}{record.kind}")
                for key, value in record.fields.items():
                    etree.SubElement(element, f"{{{PFIF_1_4}}}{key}").text = value
                found.append((not record.problems, schema.validate(root)))
        return found

    assert verdicts(sample) == [(False, False)] * 5
    path = tmp_path / "fixed.xml"
    path.write_text(corrected(sample.read_text()))
    assert verdicts(path) == [(True, True)] * 5


def test_persons_become_reports_and_notes_sightings(node: Node, tmp_path: Path) -> None:
    feed = tmp_path / "fixed-1.4.xml"
    feed.write_text(corrected((reference() / "tests__test.pfif-1.4.xml").read_text()))
    report = PfifImport(node.ledger, OPTIONS).run(feed)
    assert report.bad == {} and len(report.recorded) == 5
    assert set(report.warnings) == {f"{T}/note.27009"}  # found person's contact, and person.999
    case = node.ledger.get_case(PfifImport(node.ledger, OPTIONS).case_id(f"{T}/person.21009"))
    person = case.person
    assert (person["given_names"], person["first_surname"]) == ("_test_given_name", "_test_family_name")
    assert person["aliases"] == [
        "_test_full_name1",
        "_test_full_name2",
        "_test_alternate_name1",
        "_test_alternate_name2",
    ]
    assert person["sex"] == "female" and person["age_range"] == {"minimum": 35, "maximum": 45}
    assert person["nationalities"] == ["US"] and person["physical_description"] == "_test_description"
    assert person["origin"] == "_test_home_neighborhood, _test_home_city, _test_home_state"
    assert case.family_contacts[0]["email"] == "author@example.org"
    assert "test.google.com/person.21009" in case.circumstances and "1970-01" in case.circumstances
    assert case.status.value == "missing"
    sightings = [
        e for e in node.ledger.repository.event_store.get(case.id) if type(e).__name__ == "SightingRecorded"
    ]
    assert len(sightings) == 4
    by_id = {e.command_id.split("#")[0]: e for e in sightings}
    missing = by_id[f"pfif-note:{T}/note.27009"]
    assert (missing.source, missing.source_reliability) == ("witness", "unverified")
    assert "found@example.org" not in missing.description, "a located person's contact is theirs"
    author = by_id[f"pfif-note:{T}/note.40121"]
    assert (author.source, author.source_reliability) == ("survivor", "medium")


def test_a_1_2_feed_maps_first_and_last_names(node: Node, tmp_path: Path) -> None:
    feed = tmp_path / "fixed-1.2.xml"
    feed.write_text(corrected((reference() / "tests__test.pfif-1.2.xml").read_text()))
    report = PfifImport(node.ledger, OPTIONS).run(feed)
    assert report.bad == {} and len(report.recorded) == 5
    case = node.ledger.get_case(PfifImport(node.ledger, OPTIONS).case_id(f"{T}/person.21009"))
    assert (case.person["given_names"], case.person["first_surname"]) == (
        "_test_first_name",
        "_test_last_name",
    )
    assert case.person["physical_description"].startswith("description:")


PERSON = """<pfif:person>
  <pfif:person_record_id>{rid}</pfif:person_record_id>
  <pfif:source_date>{date}</pfif:source_date>
  <pfif:full_name>{name}</pfif:full_name>
  <pfif:given_name>{name}</pfif:given_name>
  <pfif:family_name>Ramírez</pfif:family_name>
  <pfif:home_country>HN</pfif:home_country>
</pfif:person>"""
NOTE = """<pfif:note>
  <pfif:note_record_id>{rid}</pfif:note_record_id>
  <pfif:person_record_id>{person}</pfif:person_record_id>
  {extra}
  <pfif:author_name>Albergue</pfif:author_name>
  <pfif:source_date>2026-03-02T10:00:00Z</pfif:source_date>
  <pfif:text>{text}</pfif:text>
</pfif:note>"""


def feed(tmp_path: Path, *records: str, name: str = "feed.xml", head: str = "") -> Path:
    path = tmp_path / name
    path.write_text(
        f'<?xml version="1.0" encoding="UTF-8"?>\n{head}<pfif:pfif xmlns:pfif="{PFIF_1_4}">\n'
        + "\n".join(records)
        + "\n</pfif:pfif>\n",
        encoding="utf-8",
    )
    return path


def person(rid: str = "org.example/p1", name: str = "Marvin", date: str = "2026-03-01T00:00:00Z") -> str:
    return PERSON.format(rid=rid, name=name, date=date)


def note(rid: str, text: str, extra: str = "", who: str = "org.example/p1") -> str:
    return NOTE.format(rid=rid, person=who, extra=extra, text=text)


def test_believed_dead_is_a_low_reliability_sighting_never_a_death(node: Node, tmp_path: Path) -> None:
    path = feed(
        tmp_path,
        note("org.example/n1", "Dicen que murió", "<pfif:status>believed_dead</pfif:status>"),
        person(),
    )
    report = PfifImport(node.ledger, OPTIONS).run(path)
    assert report.bad == {} and report.recorded == ["org.example/p1", "org.example/n1"]
    case: MissingPersonCase = node.ledger.get_case(PfifImport(node.ledger, OPTIONS).case_id("org.example/p1"))
    assert case.status.value == "missing"
    [sighting] = [
        e for e in node.ledger.repository.event_store.get(case.id) if type(e).__name__ == "SightingRecorded"
    ]
    assert sighting.source_reliability == "low" and "not a finding" in sighting.description


def test_a_linked_person_record_links_the_two_cases(node: Node, tmp_path: Path) -> None:
    link = "<pfif:linked_person_record_id>org.example/p2</pfif:linked_person_record_id>"
    path = feed(
        tmp_path, person(), person("org.example/p2", "Marvin José"), note("org.example/n1", "Same man", link)
    )
    report = PfifImport(node.ledger, OPTIONS).run(path)
    assert report.bad == {} and report.warnings == {}
    importer = PfifImport(node.ledger, OPTIONS)
    first, second = importer.case_id("org.example/p1"), importer.case_id("org.example/p2")
    assert str(second) in node.ledger.get_case(first).linked_cases
    assert str(first) in node.ledger.get_case(second).linked_cases


def test_importing_again_records_nothing_new_and_a_change_is_an_amendment(node: Node, tmp_path: Path) -> None:
    path = feed(tmp_path, person(), note("org.example/n1", "Visto en el albergue"))
    first = PfifImport(node.ledger, OPTIONS).run(path)
    assert len(first.recorded) == 2
    before = events(node)
    again = PfifImport(node.ledger, OPTIONS).run(path)
    assert again.recorded == [] and sorted(again.unchanged) == sorted(first.recorded)
    assert events(node) == before
    changed = feed(tmp_path, person(name="Marvin Otto"), name="changed.xml")
    report = PfifImport(node.ledger, OPTIONS).run(changed)
    assert report.amended == ["org.example/p1"] and report.bad == {}, "a changed record is amended"
    case = node.ledger.get_case(PfifImport(node.ledger, OPTIONS).case_id("org.example/p1"))
    assert case.person["given_names"] == "Marvin Otto" and events(node) == before + 1
    assert PfifImport(node.ledger, OPTIONS).run(changed).unchanged == ["org.example/p1"]


HEAD = b'<?xml version="1.0" encoding="UTF-8"?><pfif:pfif xmlns:pfif="http://zesty.ca/pfif/1.4">'
GOOD = person().encode()  # a valid record first: nothing of it may be written either
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            HEAD + GOOD + b"<pfif:person><pfif:full_name>Ana",
            "not well-formed XML at line 8, column 47 (no element found)",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            + HEAD[HEAD.index(b"<pfif:pfif") :]
            + GOOD.replace(b"Marvin</pfif:full_name>", b"&x;</pfif:full_name>")
            + b"</pfif:pfif>",
            "declares a DTD",
        ),
        (
            LAUGHS
            + HEAD[HEAD.index(b"<pfif:pfif") :]
            + GOOD.replace(b"Marvin</pfif:full_name>", b"&d;</pfif:full_name>")
            + b"</pfif:pfif>",
            "declares a DTD",
        ),
        (
            HEAD
            + GOOD
            + GOOD.replace(b"p1", b"p2").replace(b"Marvin", "José".encode("latin-1"))
            + b"</pfif:pfif>",
            "is it UTF-8 throughout",
        ),
        (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"/>', "root element is <feed>"),
        (b'<?xml version="1.0"?><pfif:pfif xmlns:pfif="http://zesty.ca/pfif/1.1"/>', "is not PFIF 1.2"),
    ],
    ids=["malformed", "xxe", "billion-laughs", "mixed-encodings", "not-pfif", "pfif-1.1"],
)
def test_an_unreadable_or_hostile_file_is_refused_whole(
    node: Node, tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "bad.xml"
    path.write_bytes(content)
    report = PfifImport(node.ledger, OPTIONS).run(path)
    assert report.refused and report.refused.startswith("file: ") and expected in report.refused
    assert events(node) == 0, "nothing of a refused file is written"


def test_the_refusal_control_a_good_file_goes_in(node: Node, tmp_path: Path) -> None:
    path = tmp_path / "good.xml"
    path.write_bytes(HEAD + GOOD + b"</pfif:pfif>")
    assert PfifImport(node.ledger, OPTIONS).run(path).recorded == ["org.example/p1"]
    assert events(node) > 0


def test_a_record_id_given_twice_refuses_the_file(node: Node, tmp_path: Path) -> None:
    path = feed(tmp_path, person(), person("org.example/p2"), person())
    report = PfifImport(node.ledger, OPTIONS).run(path)
    assert report.refused and "person_record_id: org.example/p1 is given twice" in report.refused
    assert events(node) == 0
    control = PfifImport(node.ledger, OPTIONS).run(
        feed(tmp_path, person(), person("org.example/p2"), name="ok.xml")
    )
    assert control.refused is None and len(control.recorded) == 2


def test_dates_that_do_not_exist_are_named(node: Node, tmp_path: Path) -> None:
    born = person("org.example/p2").replace(
        "</pfif:person>", "<pfif:date_of_birth>1990-02-30</pfif:date_of_birth></pfif:person>"
    )
    path = feed(tmp_path, person(date="2026-02-30T00:00:00Z"), born, person("org.example/p3"))
    report = PfifImport(node.ledger, OPTIONS).run(path)
    assert report.bad == {
        "org.example/p1": ["source_date: 2026-02-30T00:00:00Z is not a date and time that exists"],
        "org.example/p2": ["date_of_birth: 1990-02-30 is not a date that exists"],
    }
    assert report.recorded == ["org.example/p3"]


def test_a_note_about_no_case_here_is_reported(node: Node, tmp_path: Path) -> None:
    report = PfifImport(node.ledger, OPTIONS).run(
        feed(tmp_path, note("org.example/n9", "?", who="org.example/none"))
    )
    assert report.bad == {
        "org.example/n9": [
            "person_record_id: org.example/none is no case at this node; import the person first"
        ]
    }
    assert isinstance(PfifImport(node.ledger, OPTIONS).case_id("x/y"), UUID)


def test_a_long_feed_is_read_in_flat_memory(tmp_path: Path) -> None:
    """The reader hands each record on and forgets it: reading 20,000 persons (about 7 MB)
    peaks at a small fraction of the file; holding every record (the control) does not."""
    import tracemalloc

    path = tmp_path / "long.xml"
    with path.open("w", encoding="utf-8") as out:
        out.write(f'<?xml version="1.0" encoding="UTF-8"?><pfif:pfif xmlns:pfif="{PFIF_1_4}">')
        for n in range(20_000):
            out.write(person(f"org.example/p{n}", f"Persona Número {n} " + "x" * 100))
        out.write("</pfif:pfif>")
    size = path.stat().st_size

    def peak(keep: bool) -> int:
        held = []
        tracemalloc.start()
        for record in read_feed(path):
            if keep:
                held.append(record)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert len(held) == (20_000 if keep else 0)
        return top

    assert peak(keep=False) < size / 10
    assert peak(keep=True) > size / 10, "the control: records held do show"


def caseledger(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = cli_env(CASELEDGER_DATA_DIR=str(tmp_path / "cli-node"))
    return subprocess.run(
        [sys.executable, "-c", "from services.cli import run; run()", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_cli_names_each_problem_and_never_shows_a_traceback(tmp_path: Path) -> None:
    hostile = tmp_path / "xxe.xml"
    hostile.write_bytes(
        b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><p>&x;</p>'
    )
    refused = caseledger(tmp_path, "import", "pfif", str(hostile))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "refused, nothing recorded: file: declares a DTD" in refused.stderr
    mixed = feed(tmp_path, person(), person("org.example/p2", date="2026-02-30T00:00:00Z"), name="mixed.xml")
    consent = ("--consent", "search", "--consent-explained-by", "Casa", "--consent-language", "es")
    done = caseledger(tmp_path, "import", "pfif", str(mixed), *consent, "--report", str(tmp_path / "r.json"))
    assert done.returncode == 1, done.stderr
    assert "1 records recorded, 0 already here, 1 refused" in done.stdout
    assert (
        "refused org.example/p2: source_date: 2026-02-30T00:00:00Z is not a date and time that exists"
        in done.stderr
    )
    assert json.loads((tmp_path / "r.json").read_text())["recorded"] == ["org.example/p1"]
    again = caseledger(tmp_path, "import", "pfif", str(mixed), *consent)
    assert "0 records recorded, 1 already here, 1 refused" in again.stdout
    no_schema = caseledger(tmp_path, "export", "pfif", "--as", "MX", "--schema", str(tmp_path / "none.rng"))
    assert (
        no_schema.returncode == 2 and "--schema: " in no_schema.stderr and "Traceback" not in no_schema.stderr
    )


@given(
    text=st.text(max_size=40),
    status=st.sampled_from(
        ["", "information_sought", "is_note_author", "believed_alive", "believed_missing", "believed_dead"]
    ),
    contact=st.sampled_from(["", "true", "false"]),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_note_is_a_sighting_or_a_named_problem_never_a_status(
    tmp_path_factory: pytest.TempPathFactory, text: str, status: str, contact: str
) -> None:
    """Whatever a note says, reading it gives records or FeedRefused; a note that passes the
    schema maps to a sighting (never another command), and a death is only ever a claim."""
    from xml.sax.saxutils import escape

    from services.pfif import FeedRefused
    from services.pfif_mapping import sighting_command

    extra = (f"<pfif:status>{status}</pfif:status>" if status else "") + (
        f"<pfif:author_made_contact>{contact}</pfif:author_made_contact>" if contact else ""
    )
    path = feed(tmp_path_factory.mktemp("note"), note("org.example/n1", escape(text) or "-", extra))
    try:
        [record] = list(read_feed(path))
    except FeedRefused as error:
        assert str(error).startswith("file: ")
        return
    if record.problems:
        assert all(": " in p for p in record.problems)
        return
    command = sighting_command(record, "00000000-0000-0000-0000-000000000000", "MX", OPTIONS)
    assert command["command"] == "RecordSighting"
    if status == "believed_dead":
        assert command["source_reliability"] == "low" and "not a finding" in command["description"]
