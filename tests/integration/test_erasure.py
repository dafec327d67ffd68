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

import pytest

from ledger.access_rules import SAMPLE_POLICY
from ledger.commands import AmendData, EraseData, RecordSighting
from ledger.values import Place
from services.bootstrap import Node, build_node
from services.settings import Settings
from tests.contracts.test_event_log_contract import read_all
from tests.factories import FAMILY, ctx, report
from tests.network import keyed

pytestmark = pytest.mark.integration
# compose/services keeps the broker's log directories here
SERVICES = Path(os.environ.get("CASELEDGER_SERVICES_DIR", "/var/tmp/caseledger-services"))
KAFKA_DATA = SERVICES / "kafka" / "data"


def pg_dumpall(database_url: str) -> bytes:
    """Every database on the server, as pg_dumpall writes it."""
    binary = shutil.which("pg_dumpall") or "/usr/lib/postgresql/15/bin/pg_dumpall"
    for _ in range(5):
        done = subprocess.run(
            [binary, "--dbname", database_url], capture_output=True, timeout=300, check=False
        )
        # Another test process on the same server may drop its database while it is dumped.
        if done.returncode == 0 or b"does not exist" not in done.stderr:
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
    case_id = mx.ledger.report_missing_person(report(given_names=name, nationalities=("GT",)))
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
    assert amended.encode() in before, "control: the search finds the name while it is held"

    mx.ledger.erase_data(EraseData(**ctx(FAMILY), case_id=case_id, requested_by="the mother"))
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
    assert b"Otra" in dump

    # The history still verifies: a node reading the whole log from zero finds every
    # signature and hash link intact (the chain is over ciphertext) and nothing to dead-letter.
    hn.projector("HN").run_once()
    assert read_all(hn.event_log, hn.catalogue.deadletter("HN").name) == []
    assert hn.views("HN").chain_heads([str(case_id)])[str(case_id)][0] == case.version
    assert {r.case_id: r.status for r in hn.views("HN").cases()}[str(case_id)] == "erased"
