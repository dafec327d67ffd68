"""Erasure by crypto-shredding (#5, deliverable 4), on real Kafka and PostgreSQL.

A case is recorded with a distinctive name at MX and shared with GT under the sample
network rules. The family withdraws: MX destroys the case's data keys and publishes
tombstones; GT destroys its copies and both purge their views. Then a pg_dump of every
database on the server and every Kafka log segment file of the network's topics are
searched for the name: nothing readable is left, and the history still verifies.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ledger.access_rules import SAMPLE_POLICY
from ledger.access_rules import load as load_rules
from ledger.commands import AmendData, EraseData, RecordSighting
from ledger.values import Place
from projections.postgres_views import views_schema
from services.bootstrap import Node, build_node
from services.feed import ConsularFeed
from services.feed_topic import FeedPublisher, open_feed_message
from services.settings import Settings
from tests.contracts.test_event_log_contract import read_all
from tests.factories import FAMILY, ctx, report
from tests.network import keyed

pytestmark = pytest.mark.integration
# compose/services keeps the broker's log directories here
SERVICES = Path(os.environ.get("CASELEDGER_SERVICES_DIR", "/var/tmp/caseledger-services"))
KAFKA_DATA = SERVICES / "kafka" / "data"
POSTGRES_DATA = SERVICES / "pg" / "data"


def pg_dumpall(database_url: str) -> bytes:
    """Every database on the server, as pg_dumpall writes it."""
    binary = shutil.which("pg_dumpall") or "/usr/lib/postgresql/15/bin/pg_dumpall"
    for _ in range(5):
        done = subprocess.run(
            [binary, "--dbname", database_url], capture_output=True, timeout=300, check=False
        )
        # Another test process on the same server may drop its database while it is dumped.
        if done.returncode == 0 or not any(
            reason in done.stderr for reason in (b"does not exist", b"terminating connection")
        ):
            break
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def segment_bytes(prefix: str) -> bytes:
    """The raw bytes of every log segment file of the topics under prefix (all partitions)."""
    folders = [p for p in KAFKA_DATA.iterdir() if p.is_dir() and p.name.startswith(prefix)]
    assert folders, f"no partition folders for {prefix} in {KAFKA_DATA}"
    return b"".join(f.read_bytes() for folder in folders for f in sorted(folder.glob("*.log")))


@pytest.fixture
def network(
    kafka_bootstrap: str, database_url: str, unique: str, tmp_path: Path
) -> Iterator[dict[str, Node]]:
    if not KAFKA_DATA.is_dir():
        pytest.fail(f"this test reads Kafka's segment files in {KAFKA_DATA}: run `compose/services up`")
    base = {
        c: Settings(
            node=c,
            kafka_bootstrap=kafka_bootstrap,
            database_url=database_url,
            topic_prefix=f"erase{unique}.",
            data_dir=tmp_path / c,
            access_rules=SAMPLE_POLICY,
        )
        for c in ("MX", "GT", "HN")
    }
    nodes = {c: build_node(s) for c, s in keyed(base, tmp_path / "keys").items()}
    yield nodes
    for node in nodes.values():
        node.close()


def test_an_erased_case_leaves_no_readable_name_in_postgresql_or_kafka(
    network: dict[str, Node], database_url: str, unique: str
) -> None:
    mx, gt, hn = network["MX"], network["GT"], network["HN"]
    name, amended = f"Yaretzi{unique}", f"Itzayana{unique}"
    route = f"Ruta{unique}"  # public: the views keep it in clear
    case_id = mx.ledger.report_missing_person(report(given_names=name, route=route, nationalities=("GT",)))
    mx.ledger.record_sighting(
        RecordSighting(
            **ctx(),
            case_id=case_id,
            seen_on="2026-03-01",
            place=Place("MX", "Arriaga"),
            source="witness",
            description=f"{name} was seen boarding the train",
        )
    )
    mx.ledger.amend_data(
        AmendData(
            **ctx(FAMILY),
            case_id=case_id,
            changes={"person.given_names": amended},
            reason="family's spelling",
        )
    )
    other = mx.ledger.report_missing_person(report(given_names="Otra", nationalities=("GT",)))
    mx.sync("MX")
    gt.projector("GT").run_once()
    # GT holds the common key: it sees the family's amended name.
    assert {r.given_names for r in gt.views("GT").cases()} == {amended, "Otra"}
    before = pg_dumpall(database_url)
    assert route.encode() in before, "control: the search finds what the views keep in clear"
    assert amended.encode() not in before, "the views keep names sealed, never in clear"

    mx.ledger.erase_data(EraseData(**ctx(FAMILY), case_id=case_id, requested_by="Rosa Chávez, mother"))
    mx.sync("MX")
    gt.projector("GT").run_once()

    # Every copy of the case's keys is gone, at the origin and at GT.
    assert mx.data_keys.live(str(case_id)) == [] and gt.data_keys.live(str(case_id)) == []
    assert mx.data_keys.known(str(case_id)), "the key ids stay, to say what was destroyed"
    tombstones = [r for r in read_all(mx.event_log, mx.catalogue.keys().name) if r.value is None]
    assert {r.key.decode() for r in tombstones if r.key} == set(mx.data_keys.known(str(case_id)))
    # The views keep the case, purged; the other case is untouched.
    for node, jurisdiction in ((mx, "MX"), (gt, "GT")):
        rows = {r.case_id: r for r in node.views(jurisdiction).cases()}
        erased = rows[str(case_id)]
        assert (erased.status, erased.restricted, erased.given_names, erased.last_seen_place) == (
            "erased",
            True,
            None,
            None,
        )
        assert rows[str(other)].given_names == "Otra"
    case = mx.ledger.get_case(case_id)
    assert case.erased and case.full_name == "" and case.person.get("nationalities") == ["GT"]

    dump = pg_dumpall(database_url)
    segments = segment_bytes(f"erase{unique}.")
    assert str(case_id).encode() in segments, "control: the segment files are the network's"
    for text in (name, amended):
        assert dump.count(text.encode()) == 0, f"{text} is still in the PostgreSQL dump"
        assert segments.count(text.encode()) == 0, f"{text} is in a Kafka segment file"
    assert route.encode() in dump

    # The history still verifies: a node reading the whole log from zero finds every
    # signature and hash link intact (the chain is over ciphertext) and nothing to dead-letter.
    hn.projector("HN").run_once()
    assert read_all(hn.event_log, hn.catalogue.deadletter("HN").name) == []
    assert hn.views("HN").chain_heads([str(case_id)])[str(case_id)][0] == case.version
    assert {r.case_id: r.status for r in hn.views("HN").cases()}[str(case_id)] == "erased"


def data_files(directory: Path, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Every file under directory, as raw bytes (a file removed while listed is passed over)."""
    found = {}
    for path in directory.rglob("*"):
        if path.is_file() and not path.name.endswith(skip):
            try:
                found[str(path)] = path.read_bytes()
            except FileNotFoundError:
                continue
    return found


def holding(files: dict[str, bytes], texts: tuple[str, ...]) -> list[str]:
    return [f"{t} in {path}" for path, data in files.items() for t in texts if t.encode() in data]


def test_an_erased_case_leaves_no_name_in_postgresql_s_files_or_wal_nor_any_topic(
    network: dict[str, Node], database_url: str, unique: str
) -> None:
    """Not only the dump: heap files (dead tuples), indexes and the WAL, read with a CHECKPOINT
    first, and every record and file of the run's topics. The server's data directory is
    shared by every test; only this test writes these names."""
    if not POSTGRES_DATA.is_dir():
        pytest.fail(f"this test reads PostgreSQL's files in {POSTGRES_DATA}: run `compose/services up`")
    mx, gt, hn = network["MX"], network["GT"], network["HN"]
    name, surname, place = f"Xochiquetzal{unique}", f"Tlapaltecatl{unique}", f"Zanatepec{unique}"
    texts = (name, surname, place, f"Amended{unique}")
    route = f"Ruta{unique}"  # public: the views keep it in clear
    case_id = mx.ledger.report_missing_person(
        report(
            given_names=name,
            first_surname=surname,
            last_seen_place=place,
            route=route,
            nationalities=("GT",),
        )
    )
    mx.ledger.record_sighting(
        RecordSighting(
            **ctx(),
            case_id=case_id,
            seen_on="2026-03-01",
            place=Place("MX", place),
            source="witness",
            description=f"{name} {surname} was seen boarding the train",
        )
    )
    mx.ledger.amend_data(
        AmendData(**ctx(FAMILY), case_id=case_id, changes={"person.given_names": texts[3]}, reason="spelling")
    )
    mx.sync("MX")
    gt.projector("GT").run_once()
    hn.projector("HN").run_once()
    row = gt.views("GT").rows([str(case_id)])[str(case_id)]
    assert (row.given_names, row.first_surname, row.last_seen_place) == (texts[3], surname, place)
    with psycopg.connect(database_url, autocommit=True) as connection:
        held = connection.execute(
            f"SELECT count(*) FROM {views_schema('GT')}.cases WHERE case_id = %s AND sealed IS NOT NULL",
            (str(case_id),),
        ).fetchone()
    assert held == (1,), "control: GT's views hold the case, sealed"
    # Guatemala's consulate in Tapachula follows its nationals' cases on its Kafka feed topic.
    consulate = "gt-consulado-tapachula"
    feed = FeedPublisher(ConsularFeed(mx, load_rules(SAMPLE_POLICY), consulate))
    try:
        assert feed.run_once() >= 1
        [reported] = [
            r
            for r in read_all(mx.event_log, mx.catalogue.feed(consulate).name)
            if dict(r.headers).get("event_type") == b"CaseReported"
        ]
        opened = open_feed_message(mx.registry, mx.data_keys, reported.value or b"")
        assert opened["fields"]["person"]["given_names"] == name, "control: the feed carries the name"

        mx.ledger.erase_data(EraseData(**ctx(FAMILY), case_id=case_id, requested_by="Rosa Chávez, mother"))
        mx.sync("MX")
        gt.projector("GT").run_once()
        hn.projector("HN").run_once()
        assert feed.run_once() >= 1
    finally:
        feed.close()
    for node, jurisdiction in ((mx, "MX"), (gt, "GT"), (hn, "HN")):
        erased = node.views(jurisdiction).rows([str(case_id)])[str(case_id)]
        assert (erased.status, erased.given_names) == ("erased", None)

    assert holding({"pg_dumpall": pg_dumpall(database_url)}, texts) == []
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("CHECKPOINT")  # what the buffers held is in the files now
    postgres = data_files(POSTGRES_DATA)
    assert any("pg_wal" in p for p in postgres), "control: the WAL is read"
    assert holding(postgres, (route,)), "control: the scan finds a public field kept in clear"
    assert holding(postgres, texts) == [], "erased text left in PostgreSQL's data directory"

    prefix = f"erase{unique}."
    topics = sorted(t for t in mx.event_log.list_topics() if t.startswith(prefix))
    assert mx.catalogue.keys().name in topics and mx.catalogue.feed(consulate).name in topics
    for topic in topics:
        for record in read_all(mx.event_log, topic):
            content = (record.key or b"") + (record.value or b"") + b"".join(v for _, v in record.headers)
            assert holding({topic: content}, texts) == [], f"erased text in a record of {topic}"
    # Kafka preallocates .index and .timeindex files sparsely; they hold offsets only.
    kafka = {
        path: data
        for folder in KAFKA_DATA.iterdir()
        if folder.is_dir() and folder.name.startswith(prefix)
        for path, data in data_files(folder, skip=(".index", ".timeindex")).items()
    }
    assert kafka and holding(kafka, (str(case_id),)), "control: the topics' files are read"
    assert holding(kafka, texts) == [], "erased text in a file of the run's topics"
    for node in (mx, gt, hn):
        files = data_files(node.settings.data_dir) if node.settings.data_dir.is_dir() else {}
        assert holding(files, texts) == [], "erased text in a node's data directory"
