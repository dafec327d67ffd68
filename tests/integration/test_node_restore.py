"""A node that loses its database loses nothing it had relayed (#18, item 4), on real Kafka
and PostgreSQL.

MX takes commands and relays them, its keys are backed up for an operator's recovery key,
it takes more (new keys among them, and an erasure), relays them, and records one more case
that the relay has not published yet. Then MX's database is dropped while GT keeps
projecting; a tampered backup is refused with nothing written; the real backup and MX's
topics restore it. MX goes on taking commands on the chains it had, and `audit verify`
holds over the whole log. The case recorded but not relayed is gone: that window is what
PostgreSQL's own backups (WAL archiving) must cover.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from uuid import UUID

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from ledger.access_rules import SAMPLE_POLICY
from ledger.commands import AmendData, EraseData, RecordSighting
from ledger.errors import CaseNotFound, CommandIdReused
from ledger.key_backup import BackupRefused, new_recovery_key
from ledger.values import Place
from projections.postgres_views import views_schema
from services.backends import ledger_schema
from services.bootstrap import Node, build_node
from services.restore import make_backup, read_backup, restore_node
from services.settings import Settings
from tests.factories import FAMILY, ctx, report
from tests.network import keyed
from topics.log_verifier import LogVerifier

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, unique: str, tmp_path: Path) -> dict[str, Settings]:
    base = {
        c: Settings(
            node=c,
            kafka_bootstrap=kafka_bootstrap,
            database_url=database_url,
            topic_prefix=f"restore{unique}.",
            data_dir=tmp_path / c,
            access_rules=SAMPLE_POLICY,
        )
        for c in ("MX", "GT")
    }
    return keyed(base, tmp_path / "keys")


@pytest.fixture
def gt(settings: dict[str, Settings]) -> Iterator[Node]:
    node = build_node(settings["GT"])
    yield node
    node.close()


def sighting(case_id: UUID, place: str) -> RecordSighting:
    return RecordSighting(
        **ctx(), case_id=case_id, seen_on="2026-03-01", place=Place("MX", place), source="witness"
    )


def lose_database(database_url: str, node: str) -> None:
    """What a lost disk leaves: no event store, key store, chain, claims or views of the node."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        for schema in (ledger_schema(node), views_schema(node)):
            connection.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))


def aggregates(node: Node) -> dict[UUID, dict[str, object]]:
    ids = {n.originator_id for n in node.ledger.recorder.select_notifications(1, 100_000)}
    return {i: dict(vars(node.ledger.repository.get(i))) for i in ids}


def test_a_node_that_loses_its_database_is_restored_from_its_topics_and_key_backup(
    settings: dict[str, Settings], gt: Node, database_url: str, tmp_path: Path
) -> None:
    mx = build_node(settings["MX"])
    reported = report(given_names="Yaretzi", nationalities=("GT",))
    first = mx.ledger.report_missing_person(reported)
    mx.ledger.record_sighting(sighting(first, "Arriaga"))
    mx.sync("MX")
    recovery = new_recovery_key(tmp_path / "operator-recovery.pem")  # offline in real life
    backup = tmp_path / "mx-keys.backup"
    backup.write_bytes(make_backup(settings["MX"], [recovery]))

    # After the backup: a new case (new keys), an amendment, an erasure, all relayed.
    second = mx.ledger.report_missing_person(report(given_names="Itzayana", nationalities=("GT",)))
    mx.ledger.amend_data(
        AmendData(**ctx(FAMILY), case_id=second, changes={"person.aliases": ["Itza"]}, reason="nickname")
    )
    erased = mx.ledger.report_missing_person(report(given_names="Borrada"))
    mx.ledger.erase_data(EraseData(**ctx(FAMILY), case_id=erased, requested_by="Rosa Chávez, mother"))
    mx.sync("MX")
    gt.projector("GT").run_once()
    # Recorded, not yet relayed when the database goes: the window WAL archiving must cover.
    unrelayed = mx.ledger.report_missing_person(report(given_names="Pendiente"))
    before = aggregates(mx)
    relayed_up_to = mx.relay.published_up_to()

    lose_database(database_url, "MX")  # under the running node
    with pytest.raises(Exception, match="does not exist"):
        mx.ledger.report_missing_person(report(given_names="Perdida"))
    mx.close()
    gt.projector("GT").run_once()  # the network goes on meanwhile

    # Control: a backup altered by one byte is refused, and nothing is written.
    tampered = bytearray(backup.read_bytes())
    at = tampered.index(b'"sealed": "') + 20
    tampered[at] = ord("A") if tampered[at] != ord("A") else ord("B")
    (tmp_path / "tampered.backup").write_bytes(bytes(tampered))
    with pytest.raises(BackupRefused, match="altered"):
        read_backup(tmp_path / "tampered.backup", tmp_path / "operator-recovery.pem")
    with psycopg.connect(database_url) as connection:
        assert connection.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s", (ledger_schema("MX"),)
        ).fetchone() == (0,)

    done = restore_node(settings["MX"], read_backup(backup, tmp_path / "operator-recovery.pem"))
    assert done.events == sum(int(a["_version"]) for i, a in before.items() if i != unrelayed)  # type: ignore[call-overload]
    assert done.last_notification_id == relayed_up_to
    assert done.keys_from_grants > 0, "the keys made after the backup come back from MX's own grants"
    assert done.keys_lost == 0

    mx = build_node(settings["MX"])
    try:
        after = aggregates(mx)
        assert set(after) == set(before) - {unrelayed}
        for aggregate_id, state in after.items():
            if aggregate_id != erased:  # an erased case's envelope (who, when exactly) is erased too
                assert state == before[aggregate_id]
        with pytest.raises(CaseNotFound):
            mx.ledger.get_case(unrelayed)

        # The command claims came back: a retry is recognised, a reused id refused.
        highest = mx.ledger.recorder.max_notification_id()
        assert mx.ledger.report_missing_person(reported) == first
        assert mx.ledger.recorder.max_notification_id() == highest
        with pytest.raises(CommandIdReused):
            mx.ledger.report_missing_person(replace(reported, given_names="Otra"))

        # MX keeps taking commands on the chains it had, and new ones.
        assert mx.ledger.record_sighting(sighting(first, "Tapachula")) == 3
        assert mx.ledger.record_sighting(sighting(second, "Tonalá")) == 3
        third = mx.ledger.report_missing_person(report(given_names="Nueva", nationalities=("GT",)))
        assert mx.relay.run_once() == 3
        assert mx.projector("MX").run_once() > 0
        assert {r.given_names for r in mx.views("MX").cases()} >= {"Yaretzi", "Itzayana", "Nueva"}
        gt.projector("GT").run_once()
        assert str(third) in {r.case_id for r in gt.views("GT").cases()}

        report_ = LogVerifier(mx.event_log, mx.keys, mx.registry, mx.catalogue).verify()
        assert report_.breaks == [], str(report_.first_break)
        assert report_.messages == done.events + 3
    finally:
        mx.close()
