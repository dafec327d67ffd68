"""The import's worker processes (services/import_workers.py) on an in-memory ledger: the same
results and events as one process, a worker's failure stopping the import with its cause,
and workers that leave when the process that forked them is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ledger.application import CaseLedger
from ledger.crypto import MasterKey, new_data_key
from ledger.memory_key_store import MemoryKeyStore
from services.importing import Importer, Record, RowResult, refuse_duplicates
from tests.infrastructure import interruptible
from tests.unit.test_importing import CASEWORKER, person

ROOT = Path(__file__).resolve().parents[2]
POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


def records() -> list[Record]:
    good = [person(n, f"p{n}", given_names=f"Ana {n}") for n in range(1, 30)]
    bad = [
        person(30, "p30", sex="X"),
        person(31, "p31", last_seen_date="2026-02-30"),
        person(32, "", given_names="Sin referencia"),
        person(33, "p33", withheld_from_countries=["MX"]),  # refused after the database's checks
        person(34, "p1", given_names="Otra"),  # p1 twice: both refused
    ]
    return [*good, *bad]


def imported(ledger: CaseLedger, workers: int, batch_size: int = 4) -> list[RowResult]:
    results: list[RowResult] = []
    importer = Importer(
        ledger,
        "reports",
        source="pfif:example.org",
        recorded_by=CASEWORKER,
        batch_size=batch_size,
        workers=workers,
    )
    importer.run(refuse_duplicates(records()), results.append)
    return results


def events(ledger: CaseLedger) -> list[tuple[Any, str, dict[str, Any]]]:
    found = []
    for notification in ledger.recorder.select_notifications(1, 1000):
        event = ledger.mapper.to_domain_event(notification)
        kept = {k: v for k, v in vars(event).items() if k not in ("timestamp", "occurred_at")}
        found.append((notification.originator_id, notification.topic, kept))
    return found


def test_workers_give_the_results_and_events_of_one_process() -> None:
    master = MasterKey(new_data_key())
    plain = CaseLedger("MX", env=POPO, keys=MemoryKeyStore(master))
    fast = CaseLedger("MX", env=POPO, keys=MemoryKeyStore(master))
    first = imported(plain, 0)
    assert imported(fast, 2) == first
    outcomes = {r.row: r.outcome for r in first}
    assert sum(o == "recorded" for o in outcomes.values()) == 28 and outcomes[33] == "refused"
    assert [r.field for r in first if r.row == 33] == ["withheld_from_countries"]
    assert events(fast) == events(plain) and len(events(plain)) == 28
    again = imported(fast, 2)
    assert again == imported(plain, 0) and {r.outcome for r in again} == {"unchanged", "refused"}


def test_a_worker_that_fails_stops_the_import_with_its_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Importer, chunk: list[Any]) -> list[Any]:
        raise ZeroDivisionError("a bug in preparing rows")

    monkeypatch.setattr(Importer, "_prepare", broken)  # the workers are forked with it
    ledger = CaseLedger("MX", env=POPO)
    with pytest.raises(RuntimeError, match="ZeroDivisionError: a bug in preparing rows"):
        imported(ledger, 2)
    assert ledger.recorder.max_notification_id() in (None, 0)


PARENT = """
import sys, time
from ledger.application import CaseLedger
from services.import_workers import Workers
from services.importing import Importer
from tests.unit.test_importing import CASEWORKER
importer = Importer(CaseLedger("MX", env={"PERSISTENCE_MODULE": "eventsourcing.popo"}), "reports",
                    source="s", recorded_by=CASEWORKER)
workers = Workers(importer, 2, None)
print(" ".join(str(p.pid) for p in workers.processes), flush=True)
time.sleep(120)
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "Ctrl-C"])
def test_workers_leave_when_their_parent_is_killed(stop: signal.Signals) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], cwd=ROOT, stdout=subprocess.PIPE, text=True, preexec_fn=interruptible
    )
    assert parent.stdout is not None
    pids = [int(p) for p in parent.stdout.readline().split()]
    try:
        assert len(pids) == 2 and all(alive(p) for p in pids)  # control: they run
        os.kill(parent.pid, stop)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 20
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(p) for p in pids)
    finally:
        parent.kill()
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_sealed_event_packed_for_the_pipe_unpacks_as_it_was_sealed() -> None:
    from ledger.import_ahead import AheadSealer, unpacked

    ledger = CaseLedger("MX", env=POPO)
    importer = Importer(ledger, "reports", source="s", recorded_by=CASEWORKER)
    command = importer.command(person(1, "p1"))
    event = importer.batch.new_event(command)[0]
    (originator_id, version, topic, state), keys = unpacked(AheadSealer(ledger).packed(event))
    assert (originator_id, version) == (event.originator_id, 1) and topic.endswith("CaseReported")
    assert {(k.aggregate_id, k.tier, k.generation) for k in keys} == {
        (str(event.originator_id), "common", 1),
        (str(event.originator_id), "reserved", 1),
    }
    assert all(k.key_id == f"{event.originator_id}/{k.tier}/1" and k.wrapped for k in keys)
    opened = ledger.keys.master.unwrap(keys[0].key_id, keys[0].wrapped or b"")
    assert len(opened) == 32 and b'"given_names"' not in state and b'"sex"' in state  # sealed above public


def test_a_record_made_again_from_its_row_must_be_the_same_record() -> None:
    from services.import_results import RemadeRecord

    same = RemadeRecord(7, "p7", lambda: person(7, "p7"))
    assert same.fields == person(7, "p7").fields and same.columns == person(7, "p7").columns
    other = RemadeRecord(7, "p7", lambda: person(7, "p8"))
    with pytest.raises(RuntimeError, match="row 7 made another record"):
        _ = other.fields


def test_the_ids_read_from_a_records_event_are_the_ids_derived_from_it() -> None:
    from ledger.import_ahead import AheadSealer

    ledger = CaseLedger("MX", env=POPO)
    importer = Importer(ledger, "reports", source="s", recorded_by=CASEWORKER)
    prepared = importer._prepare([person(n, f"p{n}") for n in range(1, 4)])
    ready = [(n, *item) for n, item in enumerate(prepared) if not isinstance(item, RowResult)]
    sealer = AheadSealer(ledger)
    sealed = [(n, r, None, (c[0], sealer.seal(c[1]), None)) for n, r, _, c in ready]
    derived = [(n, r, None, None) for n, r, _, _ in ready]
    assert importer._ids(ready) == importer._ids(sealed) == importer._ids(derived)
    assert len(set(importer._ids(derived)[1])) == 3
