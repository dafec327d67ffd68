"""Long cases load from snapshots, and a case loaded from a snapshot equals one replayed
from every event."""

from __future__ import annotations

from pathlib import Path

from ledger.application import CaseLedger
from ledger.commands import CloseCase, LinkCases, RecordSighting, ReopenCase
from ledger.crypto import MasterKey, new_data_key
from ledger.memory_key_store import MemoryKeyStore
from ledger.values import Place
from tests.factories import ctx, report


def test_a_snapshot_loads_the_same_case_as_a_full_replay(tmp_path: Path) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "ledger.sqlite")}
    keys = MemoryKeyStore(MasterKey(new_data_key()))  # one node's keys, shared by its processes
    with_snapshots = CaseLedger("MX", env=env, snapshot_interval=10, keys=keys)
    case_id = with_snapshots.report_missing_person(report())
    other = with_snapshots.report_missing_person(report(given_names="Ana"))
    with_snapshots.link_cases(LinkCases(**ctx(), case_id=case_id, other_case_id=other, basis="same mother"))
    for day in range(1, 26):
        with_snapshots.record_sighting(
            RecordSighting(
                **ctx(), case_id=case_id, seen_on=f"2026-03-{day:02d}", place=Place("MX"), source="witness"
            )
        )
    with_snapshots.close_case(CloseCase(**ctx(), case_id=case_id, reason="reported_in_error"))
    with_snapshots.reopen_case(ReopenCase(**ctx(), case_id=case_id, reason="it was not an error"))
    assert with_snapshots.snapshots is not None
    assert [s.originator_version for s in with_snapshots.snapshots.get(case_id)] == [10, 20]
    # Snapshots hold the case's state sealed: no name in the snapshot rows themselves.
    rows = with_snapshots.snapshots.recorder.select_events(case_id)
    # (A name as a JSON string: three letters alone turn up by chance in base64 ciphertext.)
    assert rows and not any('"María José"'.encode() in r.state or b'"Ana"' in r.state for r in rows)

    replay_only = CaseLedger("MX", env=env, snapshot_interval=0, keys=keys)
    from_snapshot = vars(CaseLedger("MX", env=env, snapshot_interval=10, keys=keys).get_case(case_id))
    replayed = vars(replay_only.get_case(case_id))
    assert from_snapshot == replayed
    assert replayed["_version"] == 29 and replayed["linked_cases"] == {str(other)}
