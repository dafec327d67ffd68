"""The import core other formats reuse: records of any source, in order, each recorded,
unchanged, amended or refused; references repeated within one call refused; sightings found
by the reference of the case they are of."""

from __future__ import annotations

from typing import Any

from ledger.application import CaseLedger
from ledger.commands import Actor
from ledger.import_batch import ImportBatch
from services.importing import Importer, Record, RowResult, import_records

CASEWORKER = Actor("Casa del Migrante", "caseworker")
PERSON = {
    "given_names": "Ana",
    "first_surname": "Cruz",
    "sex": "female",
    "nationalities": ["HN"],
    "last_seen_date": "2026-02-03",
    "last_seen_country": "MX",
    "consented_purposes": ["search"],
    "consent_explained_by": "Casa del Migrante",
    "consent_language": "es",
}


def run(ledger: CaseLedger, kind: str, records: list[Record]) -> list[RowResult]:
    results: list[RowResult] = []
    import_records(
        ledger, kind, records, source="pfif:example.org", recorded_by=CASEWORKER, on_row=results.append
    )
    return results


def person(row: int, ref: str, **changes: Any) -> Record:
    return Record(row, ref, {**PERSON, **changes})


def test_records_come_out_in_order_and_a_repeated_reference_refuses_both() -> None:
    ledger = CaseLedger("MX", env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    results = run(ledger, "reports", [person(1, "p1"), person(2, "p2"), person(3, "p1", given_names="Anita")])
    assert [(r.row, r.outcome) for r in results] == [(1, "refused"), (2, "recorded"), (3, "refused")]
    assert results[0].field == "imported_from.reference" and "2 records" in (results[0].problem or "")
    assert [r.outcome for r in run(ledger, "reports", [person(1, "p2")])] == ["unchanged"]


def test_a_sighting_names_its_case_by_the_reference_it_was_imported_under() -> None:
    ledger = CaseLedger("MX", env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    [case] = run(ledger, "reports", [person(1, "p1")])
    note = {
        "case_ref": "p1",
        "seen_on": "2026-02-10",
        "place": {"country": "MX", "place": "Arriaga"},
        "source": "witness",
    }
    [seen] = run(ledger, "sightings", [Record(1, "n1", note)])
    assert (seen.outcome, seen.record_id) == ("recorded", case.record_id)
    assert ledger.get_case(__import__("uuid").UUID(case.record_id)).sightings == 1
    [again] = run(ledger, "sightings", [Record(1, "n1", note)])
    assert (
        ledger.get_case(__import__("uuid").UUID(case.record_id)).sightings == 1
        and again.outcome == "recorded"
    )
    [unknown] = run(ledger, "sightings", [Record(2, "n2", {**note, "case_ref": "nobody"})])
    assert unknown.outcome == "refused" and unknown.field == "case_ref"


def test_a_batch_makes_the_very_event_the_aggregate_would_record() -> None:
    """The bulk path makes creating events without folding them into aggregates: the same
    event type and attributes (only the instants differ, each taken when it is made)."""
    ledger = CaseLedger("MX", env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    importer = Importer(ledger, "reports", source="pfif:example.org", recorded_by=CASEWORKER)
    command = importer.command(person(1, "p1", given_names="Ana María"))
    batch = ImportBatch(ledger)
    aggregate, aggregate_command_id = batch.new_aggregate(command)
    event, event_command_id = batch.new_event(command)
    [pending] = aggregate.pending_events
    instants = ("timestamp", "occurred_at")
    assert type(event) is type(pending) and event_command_id == aggregate_command_id
    assert {k: v for k, v in vars(event).items() if k not in instants} == {
        k: v for k, v in vars(pending).items() if k not in instants
    }
