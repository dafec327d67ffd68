"""`restore` on the embedded backend (#18): every kind of event comes back from the node's
own topic as it was recorded, under its notification id, and the node goes on; a log the
node cannot vouch for, or a rebuild that would differ from the log, is refused with nothing
written. The same on Kafka and PostgreSQL: tests/integration/test_node_restore.py."""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

import topics.restore
from ledger.commands import AmendData, RecordSighting
from ledger.key_backup import new_recovery_key
from ledger.tier_codec import WIRE
from ledger.values import Place
from services.bootstrap import Node, build_node
from services.restore import RestoreRefused, StoreNotEmpty, make_backup, read_backup, restore_node
from services.settings import Settings
from tests.contracts.test_event_log_contract import read_all
from tests.factories import FAMILY, ctx, report
from tests.infrastructure import cli_env
from tests.story import whole_story
from topics.log_verifier import LogVerifier


def lose_database(settings: Settings, keys_too: bool = False) -> None:
    """The node's event store (with its chain links and claims) and key store are gone."""
    for path in settings.data_dir.iterdir():
        if path.name.startswith(("ledger-", "keys-")) or (
            keys_too and path.name.startswith(("node-", "master-"))
        ):
            path.unlink()


def state_of(node: Node) -> dict[UUID, dict[str, Any]]:
    ids = {n.originator_id for n in node.ledger.recorder.select_notifications(1, 100_000)}
    return {i: dict(vars(node.ledger.repository.get(i))) for i in ids}


def kept_as_published(node: Node) -> int:
    """How many stored tiers hold their message's ciphertext as it is (ledger/tier_codec.py);
    a stored tier with other ciphertext under the message's key fails."""
    messages = {}
    for record in read_all(node.event_log, node.catalogue.events("MX").name):
        decoded: Any = node.registry.decode(record.value).record
        meta = decoded["meta"]
        sealed = {s["tier"]: (s["key_id"], bytes(s["ciphertext"])) for s in decoded.get("sealed", [])}
        messages[(str(meta["aggregate_id"]), int(meta["aggregate_version"]))] = sealed
    kept = 0
    for notification in node.ledger.recorder.select_notifications(1, 100_000):
        state = node.ledger.mapper.transcoder.decode(notification.state)
        assert WIRE in state, notification.topic
        message = messages[(str(notification.originator_id), notification.originator_version)]
        for tier, (key_id, text, *_) in state[WIRE]["tiers"].items():
            if text and tier in message and message[tier][0] == key_id:
                assert base64.b64decode(text) == message[tier][1], (notification.topic, tier)
                kept += 1
    return kept


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        node="MX", kafka_bootstrap=None, database_url=None, data_dir=tmp_path / "mx", snapshot_interval=0
    )


def test_every_kind_of_event_comes_back_as_recorded_and_the_node_goes_on(
    settings: Settings, tmp_path: Path
) -> None:
    node = build_node(settings)
    whole_story(node.ledger)
    node.relay.run_once()
    public = new_recovery_key(tmp_path / "recovery.pem")
    (tmp_path / "mx.backup").write_bytes(make_backup(settings, [public]))
    later = node.ledger.report_missing_person(report(given_names="Después"))  # after the backup
    node.relay.run_once()
    before = state_of(node)
    # A case erased, a sample whose donor withdrew: their keys are destroyed, and with them
    # who recorded their events and when exactly (the topic seals that under their keys).
    erased = {i for i in before if set(node.data_keys.known(str(i))) - set(node.data_keys.live(str(i)))}
    assert len(erased) >= 2
    notifications = [
        (n.id, n.originator_id, n.originator_version)
        for n in node.ledger.recorder.select_notifications(1, 10_000)
    ]
    node.close()

    lose_database(settings, keys_too=True)  # the data directory's key files too
    done = restore_node(settings, read_backup(tmp_path / "mx.backup", tmp_path / "recovery.pem"))
    assert (done.events, done.keys_lost) == (len(notifications), 0)
    assert done.keys_from_grants >= 2, "the report made after the backup: its keys from MX's own grants"

    node = build_node(settings)
    try:
        assert [
            (n.id, n.originator_id, n.originator_version)
            for n in node.ledger.recorder.select_notifications(1, 10_000)
        ] == notifications
        after = state_of(node)
        for aggregate_id in set(before) - erased:
            assert after[aggregate_id] == before[aggregate_id]
        assert kept_as_published(node) >= 30, "the restored store keeps the messages' ciphertext as it is"
        with pytest.raises(StoreNotEmpty):
            restore_node(settings)

        node.ledger.amend_data(
            AmendData(**ctx(FAMILY), case_id=later, changes={"person.aliases": ["Despu"]}, reason="nickname")
        )
        assert node.relay.run_once() == 1
        verified = LogVerifier(node.event_log, node.keys, node.registry, node.catalogue).verify()
        assert verified.breaks == [] and verified.messages == len(notifications) + 1
    finally:
        node.close()


def test_without_a_backup_the_node_keys_alone_bring_back_what_the_origin_granted_itself(
    settings: Settings,
) -> None:
    node = build_node(settings)
    case_id = node.ledger.report_missing_person(report(given_names="Solita"))
    node.relay.run_once()
    node.close()
    lose_database(settings)  # the data directory's key files survive
    done = restore_node(settings)
    assert (done.events, done.keys_lost, done.events_with_closed_tiers) == (1, 0, 0)
    node = build_node(settings)
    try:
        assert node.ledger.get_case(case_id).person["given_names"] == "Solita"
    finally:
        node.close()


def test_the_check_catches_a_node_whose_keys_are_lost_too_and_writes_nothing(settings: Settings) -> None:
    node = build_node(settings)
    node.ledger.report_missing_person(report())
    node.relay.run_once()
    node.close()
    lose_database(settings, keys_too=True)  # no backup, and a new signing key is made
    with pytest.raises(RestoreRefused, match="signature does not verify"):
        restore_node(settings)
    node = build_node(settings)
    try:
        assert node.ledger.recorder.max_notification_id() in (None, 0)
    finally:
        node.close()


def test_the_check_catches_a_rebuilt_event_that_differs_from_its_message(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = build_node(settings)
    node.ledger.report_missing_person(report())
    node.relay.run_once()
    node.close()
    lose_database(settings)
    rebuilt = topics.restore._rebuilt

    def drifting(plain: Any, closed: list[str]) -> tuple[str, dict[str, Any]]:
        topic, state = rebuilt(plain, closed)
        return topic, {**state, "source": "press"}

    monkeypatch.setattr(topics.restore, "_rebuilt", drifting)
    with pytest.raises(RestoreRefused, match="does not give back the same message"):
        restore_node(settings)
    node = build_node(settings)
    try:
        assert node.ledger.recorder.max_notification_id() in (None, 0)
    finally:
        node.close()


def caseledger(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = cli_env(CASELEDGER_DATA_DIR=str(tmp_path / "data"))
    return subprocess.run(
        [sys.executable, "-c", "from services.cli import run; run()", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_commands_back_up_restore_and_refuse_a_wrong_recovery_key(tmp_path: Path) -> None:
    assert caseledger(tmp_path, "quickstart").returncode == 0
    made = caseledger(tmp_path, "keys", "recovery-key", "--out", str(tmp_path / "operator.pem"))
    assert made.returncode == 0, made.stderr
    backup = caseledger(
        tmp_path, "keys", "backup", "--recovery-key", made.stdout.strip(), "--out", str(tmp_path / "k.backup")
    )
    assert backup.returncode == 0, backup.stderr
    caseledger(tmp_path, "keys", "recovery-key", "--out", str(tmp_path / "stranger.pem"))
    lose_database(Settings(node="MX", kafka_bootstrap=None, database_url=None, data_dir=tmp_path / "data"))

    wrong = caseledger(
        tmp_path,
        "restore",
        "--backup",
        str(tmp_path / "k.backup"),
        "--recovery-private-key",
        str(tmp_path / "stranger.pem"),
    )
    assert wrong.returncode == 3
    assert wrong.stderr.strip() == (
        "error: backup: this recovery key is not one the backup was made for "
        "(it was made for 1 other recovery key(s))"
    )
    done = caseledger(
        tmp_path,
        "restore",
        "--backup",
        str(tmp_path / "k.backup"),
        "--recovery-private-key",
        str(tmp_path / "operator.pem"),
    )
    assert done.returncode == 0, done.stderr
    assert "restored node MX: 1 events of 1 records" in done.stdout and "WAL archiving" in done.stdout
    assert "José" not in done.stdout + done.stderr, "no personal data in what restore prints"
    again = caseledger(tmp_path, "cases", "--as", "MX")
    assert "José Ángel" in again.stdout


def test_after_a_point_in_time_recovery_the_topic_fills_in_what_the_wal_archive_had_not(
    settings: Settings, tmp_path: Path
) -> None:
    node = build_node(settings)
    first = node.ledger.report_missing_person(report(given_names="Antes"))
    node.relay.run_once()
    node.close()
    archived = tmp_path / "archived"  # a base backup and WAL up to here
    archived.mkdir()
    for path in settings.data_dir.iterdir():
        if path.name.startswith(("ledger-", "keys-")):
            shutil.copy2(path, archived / path.name)
    node = build_node(settings)
    second = node.ledger.report_missing_person(report(given_names="Luego"))
    node.ledger.amend_data(
        AmendData(**ctx(FAMILY), case_id=first, changes={"person.aliases": ["Ante"]}, reason="nickname")
    )
    assert node.relay.run_once() == 2
    node.close()

    lose_database(settings)
    for path in archived.iterdir():
        shutil.copy2(path, settings.data_dir / path.name)  # the point-in-time recovery
    with pytest.raises(StoreNotEmpty, match="--onto-existing"):
        restore_node(settings)
    done = restore_node(settings, onto_existing=True)
    assert (done.events, done.already_held, done.keys_lost) == (2, 1, 0)
    node = build_node(settings)
    try:
        assert node.ledger.get_case(second).person["given_names"] == "Luego"
        assert node.ledger.get_case(first).person["aliases"] == ["Ante"]
        assert (
            node.ledger.record_sighting(
                RecordSighting(
                    **ctx(),
                    case_id=first,
                    seen_on="2026-03-01",
                    place=Place("MX", "Arriaga"),
                    source="witness",
                )
            )
            == 3
        )
        assert node.relay.run_once() == 1
        verified = LogVerifier(node.event_log, node.keys, node.registry, node.catalogue).verify()
        assert verified.breaks == [] and verified.messages == 4
    finally:
        node.close()


def test_the_check_catches_a_recovered_store_that_disagrees_with_the_topic(settings: Settings) -> None:
    node = build_node(settings)
    node.ledger.report_missing_person(report(given_names="Una"))
    node.relay.run_once()
    node.close()
    lose_database(settings)
    node = build_node(settings)  # a store brought back from another node's archive, say
    node.ledger.report_missing_person(report(given_names="Otra cosa"))
    node.close()
    with pytest.raises(RestoreRefused, match="disagree at notification 1"):
        restore_node(settings, onto_existing=True)


def test_without_the_backup_or_the_node_x25519_key_the_events_come_back_unopened(
    settings: Settings,
) -> None:
    node = build_node(settings)
    case_id = node.ledger.report_missing_person(report(given_names="Sin llave"))
    node.relay.run_once()
    node.close()
    lose_database(settings)
    (settings.data_dir / "node-mx.x25519").unlink()  # a new one is made: the grants do not open
    done = restore_node(settings)
    assert done.events == 1 and done.grants_unopened >= 2
    assert done.keys_lost >= 2 and done.events_with_closed_tiers == 1
    node = build_node(settings)
    try:
        case = node.ledger.get_case(case_id)
        assert case.person["given_names"] is None and case.person["sex"] == report().sex
        assert node.data_keys.erased(str(case_id), "common"), "a lost key's id is never made again"
    finally:
        node.close()
